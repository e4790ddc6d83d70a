// Which rules apply to a request, and what a stored response may be used
// for right now (RFC 9111 §4, RFC 5861, RFC 9213). Pure: `now` is a parameter.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "relay/cache/facts.hpp"
#include "relay/cache/freshness.hpp"
#include "relay/config/config.hpp"
#include "relay/http/headers.hpp"

namespace relay::cache {

// [cache] settings merged with the first matching [[cache.rules]] entry.
struct ResolvedRule {
  bool bypass = false;
  // false: misses go to the origin each on their own (a rule's coalesce =
  // false); true defers to [cache.coalesce] enabled.
  bool coalesce = true;
  Policy policy;
  config::CacheKeyConfig key;
  // Request fields removed before forwarding (those the key names are kept).
  std::vector<std::string> strip_request_headers;
  const config::CacheRule* rule = nullptr;  // the matching rule, if any
};
// `path` is the normalised path (Target::path): rules see what is keyed and
// forwarded. A route's own rules ([[routes.cache_rules]]) are tried before
// [[cache.rules]]; the first match of the two lists applies.
ResolvedRule resolve_rule(const config::CacheConfig& cfg, std::string_view path,
                          std::span<const config::CacheRule> route_rules = {});
// The rule resolve_rule applies for `path` (null: none), and the
// ResolvedRule of a given rule (null: [cache] alone): the two halves of
// resolve_rule, for callers that resolve every rule once up front.
const config::CacheRule* match_rule(const config::CacheConfig& cfg, std::string_view path,
                                    std::span<const config::CacheRule> route_rules = {});
ResolvedRule resolve_rule(const config::CacheConfig& cfg, const config::CacheRule* rule);

// Every rule of a configuration resolved once ([[cache.rules]], each
// route's, and none), so a request finds its ResolvedRule without copying
// a list or a string. Lives as long as the configuration it points into.
class ResolvedRules {
 public:
  ResolvedRules(const config::CacheConfig& cfg, std::span<const config::CacheRule* const> route_rules);
  const ResolvedRule& resolve(std::string_view path, std::span<const config::CacheRule> route_rules) const;

 private:
  const config::CacheConfig& cfg_;
  std::vector<std::pair<const config::CacheRule*, ResolvedRule>> resolved_;  // sorted by rule address
};

// Removes the rule's strip_request_headers from a request about to be
// forwarded, except fields the key names (an operator who needs one keys it).
void strip_request_headers(http::Headers& request_headers, const ResolvedRule& rule);

enum class Verdict {
  Fresh,                 // serve it (HIT)
  StaleAcceptable,       // stale, but the request's max-stale allows it: serve (STALE)
  StaleWhileRevalidate,  // serve now (STALE) and revalidate in the background
  MustValidate,          // ask the origin first (conditional request)
};

// RFC 9111 §4.2.4: a stored response that may never be served stale:
// must-revalidate (§5.2.2.2), proxy-revalidate (§5.2.2.8), s-maxage, which
// implies proxy-revalidate for a shared cache (§5.2.2.10), and no-cache
// (§5.2.2.4, which forbids even fresh reuse without validation). Read from
// the effective Cache-Control, so a targeted field decides (RFC 9213).
bool stale_forbidden(const ResponseFacts& stored) noexcept;

// RFC 5861 §3, §4: the response's stale-while-revalidate / stale-if-error
// window, else the policy's default.
Seconds stale_while_revalidate_window(const ResponseFacts& response, const Policy& policy);
Seconds stale_if_error_window(const ResponseFacts& response, const Policy& policy);

// A stored response as the rules see it.
struct StoredResponse {
  const ResponseFacts& facts;
  SysTime request_time;
  SysTime response_time;
  // A soft purge's moment (storage InternalMeta::stale_at): the response is
  // stale from then on, and its stale windows count from it.
  std::optional<SysTime> stale_at{};
};

// The header-taking form of StoredResponse (parsed on every call).
struct StoredFacts {
  const http::Headers& headers;
  SysTime request_time;
  SysTime response_time;
};

struct Classification {
  Verdict verdict = Verdict::MustValidate;
  Seconds age{0};
  Seconds lifetime{0};
  // On an origin failure (unreachable, timeout, 500/502/503/504) this stored
  // response may be served instead (RFC 5861 §4), stale or not.
  bool stale_if_error = false;
};

// RFC 9111 §4.2 + §5.2 request/response directives + RFC 5861 windows.
Classification classify(const RequestFacts& request, const StoredResponse& stored,
                        const Policy& policy, SysTime now);
Classification classify(const http::Headers& request_headers, const StoredFacts& stored,
                        const Policy& policy, SysTime now);

}  // namespace relay::cache
