// One rate limit on the request path: which bucket a request falls in (its
// client address, an API-key field, or the route as a whole), the decision,
// the RateLimit-Policy / RateLimit fields every answer under the limit
// carries, and the 429 of a refused request. The handler asks it before the
// origin or the cache is touched; with exempt_hits, only once the request is
// known not to be a cache hit (handler.cpp), so hits never spend a token.
//
// A policy is built per configuration (and, with [[routes]], per route) and
// holds no state of its own: the buckets live in the process-wide
// RateLimiter, so a reload keeps them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "relay/config/config.hpp"
#include "relay/gateway/gcra.hpp"
#include "relay/gateway/rate_limiter.hpp"
#include "relay/http/body.hpp"
#include "relay/http/headers.hpp"
#include "relay/http/request.hpp"

namespace relay::gateway {

// The address a request's client is known by for limits: the peer, or
// behind [server] trusted_proxies the client X-Forwarded-For names (set by
// the request path before any limit is asked).
std::string_view client_address(const http::Request& req);

// What admit() decided for one request.
struct Admission {
  bool limited = false;  // a limit applies (false: no limit, nothing below is set)
  Decision decision;
  http::Headers fields;  // RateLimit-Policy and RateLimit, for the response

  bool refused() const noexcept { return limited && !decision.allowed; }
};

class RateLimitPolicy {
 public:
  // route: the limit's name in metrics, in Redis keys and in the fields'
  // policy item ("default" for [server.rate_limit]). limiter null or
  // limit.rate 0: the policy admits everything and adds nothing.
  RateLimitPolicy(const config::RateLimitConfig& limit, std::string route, RateLimiter* limiter);

  bool active() const noexcept { return limiter_ != nullptr; }
  bool exempt_hits() const noexcept { return limit_.exempt_hits; }
  const std::string& route() const noexcept { return route_; }

  // The bucket of this request within the route: "c:<address>",
  // "h:<value>" (a missing field falls back to the client address) or "r".
  // Long values are hashed, so a key's memory is bounded whatever is sent.
  std::string key_for(const http::Request& req) const;

  // Takes one request from the request's bucket (or refuses it).
  boost::asio::awaitable<Admission> admit(const http::Request& req) const;

  // Answers a refused request: 429 with Retry-After and the fields.
  boost::asio::awaitable<void> refuse(const http::Request& req, const Admission& admission,
                                      http::ResponseSink& out) const;

 private:
  config::RateLimitConfig limit_;
  std::string route_;
  RateLimiter* limiter_ = nullptr;
  Bucket bucket_;
  std::string policy_field_;
  RateLimiter::Counters counters_;
};

}  // namespace relay::gateway
