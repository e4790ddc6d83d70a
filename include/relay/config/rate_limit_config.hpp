// One rate limit's settings ([server.rate_limit] and a route's rate_limit
// table), apart from config.hpp because routes (gateway.hpp) hold one too.
#pragma once

#include <chrono>
#include <string>

namespace relay::config {

// A token bucket: `rate` requests per `per` (default 1s) with `burst` extra.
// Decided by GCRA (one timestamp per key): a new key may send `burst`
// requests at once, then one every per/rate. Parsed and checked in
// config/rate_limit.hpp ([server.rate_limit], and inline tables for routes).
struct RateLimitConfig {
  double rate = 0;                 // 0 = no limit
  double burst = 0;                // bucket size beyond the steady rate (>= 1 when rate > 0: default = rate)
  std::chrono::milliseconds per{1000};
  enum class Key { Client, Header, Route } key = Key::Client;   // "client" | "header:<Name>" | "route"
  std::string header;              // Key::Header: the request field whose value is the key (API key)
  bool fleet = false;              // shared through [storage.redis]'s server (needs storage = redis or a redis url)
  bool exempt_hits = false;        // cache hits do not consume tokens

  bool operator==(const RateLimitConfig&) const = default;
};

}  // namespace relay::config
