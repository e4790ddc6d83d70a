// One [[cache.rules]] entry (and the Set-Cookie choice it may override),
// apart from config.hpp because routes ([[routes.cache_rules]]) hold them too.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::config {

using Duration = std::chrono::milliseconds;

enum class SetCookie { Pass, Strip, Store };  // pass | strip | store
std::string_view name_of(SetCookie v) noexcept;

// One [[cache.rules]] entry. Rules are tried in file order; the first whose
// path glob matches the request path applies (an ordered list, never a map).
struct CacheRule {
  std::string path;                                 // glob on the path; '*' matches any run
  std::optional<std::string> name;                  // the route label of its requests' metrics
  std::optional<Duration> ttl;                      // replaces the origin's freshness
  std::optional<Duration> default_ttl;              // only when the origin gives none
  std::optional<Duration> stale_while_revalidate;   // replaces [cache] stale_while_revalidate
  std::optional<Duration> stale_if_error;           // replaces [cache] stale_if_error
  bool bypass = false;                              // never look up or store
  std::optional<std::vector<std::string>> ignore_params;  // replaces [cache.key] ignore_params
  std::optional<std::vector<std::string>> key_headers;    // replaces [cache.key] headers
  std::optional<bool> key_scheme;                         // replaces [cache.key] scheme
  std::optional<bool> sort_query;                         // replaces [cache.key] sort_query
  std::optional<SetCookie> set_cookie;                    // replaces [cache] set_cookie
  std::optional<std::vector<std::string>> strip_request_headers;  // replaces [cache] strip_request_headers
  // Final statuses the rule's ttl and default_ttl cover (three digits each);
  // unset = every status. Others get what [cache] gives them.
  std::optional<std::vector<std::string>> status;
  std::vector<int> status_codes;                    // status as numbers, set with it by the loader
  std::optional<Duration> negative_ttl;             // replaces [cache] negative_ttl
  // Clients cannot force a fetch while a stored response is fresh.
  std::optional<bool> immutable;
  std::optional<bool> honour_client_no_cache;       // replaces [cache] / the route's; immutable means false
  std::optional<Duration> heuristic_max;            // replaces [cache] heuristic_max
  std::optional<std::uint64_t> max_object_size;     // replaces [cache] max_object_size (0 = unlimited)
  std::optional<std::vector<std::string>> targeted_fields;  // replaces [cache] targeted_fields
  std::optional<bool> coalesce;                     // false: misses never share a fetch ([cache.coalesce] enabled)
  std::optional<bool> refresh_ahead;                // replaces [cache.refresh_ahead] enabled
  int line = 0;                                     // where it was defined, for messages
};

}  // namespace relay::config
