// Storage and freshness policy for a shared cache (RFC 9111 §3, §4.2). Pure:
// `now` and the request/response times are always parameters.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/http/headers.hpp"

namespace relay::cache {

struct CacheControl;
struct RequestFacts;   // facts.hpp
struct ResponseFacts;  // facts.hpp

using SysTime = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

// What a shared cache does with a response carrying Set-Cookie.
enum class SetCookiePolicy {
  Pass,   // not stored (Varnish's and nginx's default); the key skips coalescing for a while
  Strip,  // stored without its Set-Cookie fields; only the client that fetched it gets them
  Store,  // stored and replayed (RFC 9111 §3 allows it), only with explicit freshness or a rule ttl
};

struct Policy {
  Seconds default_ttl{0};             // used when the response carries no freshness
  std::uint64_t max_object_size = 0;  // 0 = unlimited
  Seconds heuristic_max{86400};       // cap on heuristic freshness (§4.2.2)
  // A rule's ttl: replaces the origin's freshness. The explicit {} keeps
  // GCC's -Wmissing-field-initializers quiet for brace-initialized Policy.
  std::optional<Seconds> ttl_override{};
  // A rule's status list: its ttl_override and default_ttl cover only these
  // final statuses (empty = all); the others get fallback_default_ttl.
  std::span<const int> rule_statuses{};  // the rule's own list (CacheRule::status_codes)
  Seconds fallback_default_ttl{0};  // [cache] default_ttl
  // 404 and 410 under a rule's ttl (listed in rule_statuses or not), and
  // where a default gives them a lifetime: this lifetime instead, unless
  // the rule lists the status; nullopt = as given.
  std::optional<Seconds> negative_ttl{};
  Seconds stale_while_revalidate{0};  // default window when the response names none
  Seconds stale_if_error{0};          // default window when the response names none
  // RFC 9213 targeted fields in precedence order; the first one present with
  // a valid value is used instead of Cache-Control and Expires.
  std::vector<std::string> targeted_fields{"CDN-Cache-Control"};
  SetCookiePolicy set_cookie = SetCookiePolicy::Pass;
};

// The lifetime the operator gives a response with this status on purpose
// (a rule's ttl, replacing the origin's freshness), if any.
std::optional<Seconds> operator_ttl(const Policy& policy, int status) noexcept;
// The lifetime the configuration gives a response with this status when
// the origin gives none (a default_ttl; 0 = none).
Seconds configured_default_ttl(const Policy& policy, int status) noexcept;

// RFC 9110 §5.6.7 HTTP-date in any of its three formats.
std::optional<SysTime> parse_http_date(std::string_view text) noexcept;
// Same, with the clock injected: the rfc850-date two-digit year is resolved
// relative to `now` (a year more than 50 years ahead means the past).
std::optional<SysTime> parse_http_date(std::string_view text, SysTime now) noexcept;
std::string format_http_date(SysTime t);
// RFC 9110 §6.6.1: a response without a Date gets one with the time it was
// received, and so does one whose Date is invalid (the MAY of that section:
// an unparsable Date would otherwise leave age and Expires without a
// reference and the response stale on arrival). Several Date lines count as
// invalid. Whatever relay stores or forwards went through this.
void stamp_date(http::Headers& response_headers, SysTime received);

// Whether the request may be answered from (and fill) the cache at all.
// GET and HEAD only; Cache-Control: no-store on the request bypasses.
bool request_may_use_cache(const RequestFacts& request);
bool request_may_use_cache(std::string_view method, const http::Headers& request_headers);

enum class StoreDecision {
  Store,
  NotCacheableMethod,
  NotCacheableStatus,
  NoStore,
  Private,
  Authorization,
  NoFreshness,  // nothing explicit, no heuristic, no rule ttl and default_ttl = 0
  TooLarge,
  VaryStar,     // Vary: * never matches a later request (RFC 9111 §4.1)
  SetCookie,    // carries Set-Cookie and the policy does not allow storing it
  Cookie,       // a response to a request with Cookie, with only heuristic freshness
};
std::string_view to_string(StoreDecision d) noexcept;

// RFC 9111 §3: may a response to this request be stored by a shared cache?
// Response directives come from effective_cache_control (RFC 9213).
StoreDecision may_store(const RequestFacts& request, const ResponseFacts& response,
                        const Policy& policy);
StoreDecision may_store(std::string_view method, const http::Headers& request_headers, int status,
                        const http::Headers& response_headers, const Policy& policy);

// The response fields to store or share with other clients: those named by
// no-cache="..." or private="..." (RFC 9111 §5.2.2.4, §5.2.2.7) are dropped,
// since a shared cache may not reuse them without revalidation, and so is
// Set-Cookie unless the policy is SetCookiePolicy::Store.
// `effective` is the response's effective Cache-Control (ResponseFacts::cc).
http::Headers storable_fields(const http::Headers& response_headers, const CacheControl& effective,
                              const Policy& policy);
http::Headers storable_fields(const http::Headers& response_headers, const Policy& policy);

// RFC 9111 §4.2.1/§4.2.2: freshness lifetime. policy.ttl_override wins;
// else s-maxage > max-age > Expires - Date (Expires ignored when a targeted
// field is used); else, for a heuristically cacheable status with
// Last-Modified before Date, 10% of the interval capped at
// policy.heuristic_max; else policy.default_ttl.
Seconds freshness_lifetime(const ResponseFacts& response, const Policy& policy);
Seconds freshness_lifetime(const http::Headers& response_headers, const Policy& policy, int status);
// Same for a stored response, whose status already passed may_store (so a
// status without heuristic freshness was stored only with explicit freshness).
Seconds freshness_lifetime(const http::Headers& response_headers, const Policy& policy);

// RFC 9111 §4.2.3: current age of a stored response.
Seconds current_age(const ResponseFacts& response, SysTime request_time, SysTime response_time,
                    SysTime now);
Seconds current_age(const http::Headers& response_headers, SysTime request_time,
                    SysTime response_time, SysTime now);

// Fresh when lifetime > current_age.
bool is_fresh(const http::Headers& response_headers, const Policy& policy, SysTime request_time,
              SysTime response_time, SysTime now);

// Whether a fresh stored response still has to go to the origin first:
// response no-cache (§5.2.2.4), request no-cache (§5.2.1.4), request max-age
// exceeded by the current age (§5.2.1.1), or Pragma: no-cache on a request
// without Cache-Control (§5.4). The response side honours
// policy.targeted_fields (RFC 9213).
bool needs_validation(const RequestFacts& request, const ResponseFacts& response,
                      Seconds current_age);
bool needs_validation(const http::Headers& request_headers, const http::Headers& response_headers,
                      Seconds current_age, const Policy& policy = Policy{});

}  // namespace relay::cache
