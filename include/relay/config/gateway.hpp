// The gateway part of the configuration: named origin pools ([[origins]])
// and the routes that choose one ([[routes]]). Both are arrays of tables
// read from the file only (their members are inline tables, which the
// RELAY_* environment cannot express). A config with neither gets one pool
// named "default" built from [upstream] and one catch-all route to it, so a
// one-origin config means what it always meant.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relay/config/cache_rule.hpp"
#include "relay/config/rate_limit_config.hpp"
#include "relay/config/upstream_tls.hpp"

namespace relay::config {

// How a request picks a member among the healthy ones of the best priority.
enum class Balance { RoundRobin, LeastConnections, ConsistentHash };  // round-robin | least-connections | consistent-hash
std::string_view name_of(Balance v) noexcept;

// Active checks: a GET of `path` every interval (plus up to `jitter`), a
// member is down after `fall` failures in a row and up again after `rise`
// successes. An empty path turns them off (members are then judged by
// passive ejection alone).
struct HealthCheck {
  std::string path;
  std::chrono::milliseconds interval{5'000};
  std::chrono::milliseconds timeout{2'000};
  std::chrono::milliseconds jitter{-1};  // -1: a tenth of the interval
  int expected_status = 0;               // 0: any 2xx or 3xx
  int rise = 2;
  int fall = 3;
  std::string host;                      // Host of the check; "" = the member's authority

  bool enabled() const noexcept { return !path.empty(); }
  std::chrono::milliseconds effective_jitter() const noexcept {
    return jitter.count() < 0 ? interval / 10 : jitter;
  }
  bool operator==(const HealthCheck&) const = default;
};

// Passive ejection: `failures` consecutive connect failures (or 5xx answers
// with on_5xx) take a member out for `cooldown`; 0 failures turns it off.
struct PassiveEjection {
  int failures = 5;
  bool on_5xx = false;
  std::chrono::milliseconds cooldown{10'000};
  bool operator==(const PassiveEjection&) const = default;
};

struct OriginMember {
  std::string url;  // http(s)://authority[/prefix], as UpstreamUrl::parse reads it
  int weight = 1;     // 1..1000, a share within its priority
  int priority = 1;   // lower is preferred; higher ones only when no lower one is healthy
  bool operator==(const OriginMember&) const = default;
};

// One [[origins]] entry. Timeouts, connection limits and Host handling
// default to [upstream]'s values.
struct OriginPool {
  std::string name;
  std::vector<OriginMember> members;
  Balance balance = Balance::RoundRobin;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds first_byte_timeout{30'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds queue_timeout{10'000};
  int max_connections = 64;       // for the whole process, all members together
  bool preserve_host = true;      // forward the client's Host
  std::string host;               // a fixed Host for this pool ("" = the member's authority when not preserving)
  bool retry = true;              // an idempotent request whose connect failed tries the next member once
  UpstreamTls tls;                // for https:// members; defaults to [upstream.tls]
  HealthCheck health_check;
  PassiveEjection passive;
  int line = 0;                   // 0: the implicit pool made from [upstream]
};

// Request or response header edits, applied in this order: remove, set
// (replaces every field of that name), add (appends).
struct HeaderEdits {
  std::vector<std::string> remove;
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;

  bool empty() const noexcept { return remove.empty() && set.empty() && add.empty(); }
};

// One [[routes]] entry; the first whose host and path match applies.
struct Route {
  std::string name;        // for logs and metric labels; default "routes[N]"
  std::string host;        // "" = any; "example.com" exactly, or "*.example.com" (any subdomain)
  std::string path = "/*"; // glob on the normalised path, as [[cache.rules]] take it
  std::string origin;      // an [[origins]] name ("" = the default pool)
  std::optional<std::uint64_t> max_body_size;  // replaces [server] max_body_size
  std::optional<bool> honour_client_no_cache;  // replaces [cache] honour_client_no_cache
  std::optional<RateLimitConfig> rate_limit;   // replaces [server.rate_limit] for this route
  std::optional<std::vector<std::string>> upgrades;  // replaces [server] upgrades for this route
  HeaderEdits request_headers;
  HeaderEdits response_headers;
  std::vector<CacheRule> cache_rules;          // [[routes.cache_rules]], tried before [[cache.rules]]
  int line = 0;                                // 0: the implicit catch-all route
};

// The same pools, members and health settings: what a reload cannot change
// (member health lives on across it). Timeouts, limits and Host handling may.
bool same_topology(const std::vector<OriginPool>& a, const std::vector<OriginPool>& b) noexcept;

// Does a route's host pattern take this Host (port already removed)?
// Case-insensitive; "*.example.com" takes "a.example.com" and
// "a.b.example.com", not "example.com".
bool host_matches(std::string_view pattern, std::string_view host) noexcept;

}  // namespace relay::config
