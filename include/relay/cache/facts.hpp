// What the cache rules read from a request and from a response, parsed once
// (RFC 9111 §5, RFC 9213, RFC 9110 §5.6.7, §8.8). Every rule in cache/
// (may_store, freshness_lifetime, current_age, classify, the origin
// verdict) takes these facts instead of re-reading header fields, so a
// directive has one reading per message. Pure: the clock is a parameter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/cache/cache_control.hpp"
#include "relay/cache/freshness.hpp"
#include "relay/http/headers.hpp"

namespace relay::cache {

struct RequestFacts {
  std::string method;
  // Cache-Control as the cache acts on it: Pragma: no-cache counts as
  // no-cache when the request carries no Cache-Control at all (RFC 9111 §5.4).
  CacheControl cc;
  bool has_authorization = false;  // §3.5
  bool has_cookie = false;
};
RequestFacts request_facts(std::string_view method, const http::Headers& headers);
// Drops what lets a client force a trip to the origin (no-cache, Pragma,
// max-age, min-fresh): for routes that do not honour them, as Varnish and
// most CDNs do. max-stale and only-if-cached stay: they never cost the origin.
void ignore_client_revalidation(RequestFacts& request) noexcept;

struct ResponseFacts {
  int status = 0;
  // The Cache-Control that governs this cache: the first valid targeted
  // field (Policy::targeted_fields, e.g. CDN-Cache-Control) when there is
  // one, else Cache-Control (RFC 9213 §2.2).
  CacheControl cc;
  bool targeted = false;  // a targeted field is in use: Expires is ignored too
  bool has_expires = false;
  std::optional<SysTime> expires;  // nullopt when absent or invalid (§5.3: already expired)
  std::optional<SysTime> date;
  std::optional<SysTime> last_modified;
  std::optional<std::int64_t> age;  // the first valid Age delta-seconds
  bool has_etag = false;  // a non-empty ETag (kept as a flag: a copy of it would cost every hit an allocation)
  bool weak_etag = false;
  bool vary_star = false;
  std::optional<std::uint64_t> content_length;
  bool set_cookie = false;

  // §4.2.1: the origin said how long (s-maxage, max-age, or an Expires not
  // overridden by a targeted field, valid or not).
  bool explicit_freshness() const noexcept;
  // §4.3.1: there is something to send in a conditional request.
  bool has_validators() const noexcept;
};
// `now` resolves two-digit rfc850 years (RFC 9110 §5.6.7); `targeted_fields`
// are the RFC 9213 field names in precedence order.
ResponseFacts response_facts(int status, const http::Headers& headers,
                             const std::vector<std::string>& targeted_fields, SysTime now);

// Set-Cookie or its obsolete Set-Cookie2: personal, never replayed to others.
bool is_set_cookie(std::string_view field_name) noexcept;

}  // namespace relay::cache
