// Shared-cache storage and freshness rules (RFC 9111 §3, §4.2), read from
// parsed facts (facts.hpp). The header-taking forms parse and delegate, so
// each rule is written once. Every clock reading is a parameter so the
// policy can be tested without sleeping.
#include "relay/cache/freshness.hpp"

#include <algorithm>

#include "relay/cache/cache_control.hpp"
#include "relay/cache/facts.hpp"
#include "relay/util/time.hpp"

namespace relay::cache {

namespace chr = std::chrono;

namespace {

bool is_get_or_head(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD";
}

// RFC 9110 §15.1: codes that are heuristically cacheable. 206 is listed for
// the lifetime rule, but may_store refuses it (relay stores only complete
// responses, RFC 9111 §3.3).
bool heuristically_cacheable(int status) noexcept {
  switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
      return true;
    default:
      return false;
  }
}

// RFC 9111 §5.2.2.3: the codes whose caching rules relay implements, i.e.
// those for which must-understand lets it ignore no-store.
bool understood_status(int status) noexcept {
  return heuristically_cacheable(status) || status == 302 || status == 303 || status == 307;
}

// RFC 9111 §4.2.2: heuristics apply to a heuristically cacheable status
// and to any response "marked explicitly cacheable (e.g., with a public
// response directive)", whatever its final status (§3: public makes it
// storable too).
bool heuristic_allowed(const ResponseFacts& res) noexcept {
  return heuristically_cacheable(res.status) || res.cc.is_public;
}

// RFC 9111 §4.2.2: 10% of Date - Last-Modified, the classic heuristic.
// Only when both parse and Last-Modified is strictly earlier: a
// modification time at or after Date tells nothing about stability.
std::optional<Seconds> heuristic_lifetime(const ResponseFacts& res) {
  if (!heuristic_allowed(res)) return std::nullopt;
  if (!res.last_modified || !res.date || *res.last_modified >= *res.date) return std::nullopt;
  return seconds_between(*res.last_modified, *res.date) / 10;
}

Seconds non_negative(Seconds s) noexcept { return std::max(s, Seconds{0}); }

SysTime wall_clock() { return chr::system_clock::now(); }

}  // namespace

bool request_may_use_cache(const RequestFacts& request) {
  // Pragma: no-cache is deliberately not consulted: it asks for revalidation
  // (RFC 9111 §5.4), not for bypassing storage.
  return is_get_or_head(request.method) && !request.cc.no_store;
}

bool request_may_use_cache(std::string_view method, const http::Headers& request_headers) {
  return request_may_use_cache(request_facts(method, request_headers));
}

std::string_view to_string(StoreDecision d) noexcept {
  switch (d) {
    case StoreDecision::Store: return "store";
    case StoreDecision::NotCacheableMethod: return "method";
    case StoreDecision::NotCacheableStatus: return "status";
    case StoreDecision::NoStore: return "no-store";
    case StoreDecision::Private: return "private";
    case StoreDecision::Authorization: return "authorization";
    case StoreDecision::NoFreshness: return "no-freshness";
    case StoreDecision::TooLarge: return "too-large";
    case StoreDecision::VaryStar: return "vary-star";
    case StoreDecision::SetCookie: return "set-cookie";
    case StoreDecision::Cookie: return "cookie";
  }
  return "unknown";
}

StoreDecision may_store(const RequestFacts& request, const ResponseFacts& response,
                        const Policy& policy) {
  // RFC 9111 §3: the method must be understood and cacheable.
  if (!is_get_or_head(request.method)) return StoreDecision::NotCacheableMethod;
  const CacheControl& req = request.cc;
  const CacheControl& res = response.cc;
  const int status = response.status;
  // §5.2.1.5: request no-store always forbids storage.
  if (req.no_store) return StoreDecision::NoStore;
  // §5.2.2.3: must-understand means "store only if you implement this
  // status code's caching rules", and then overrides no-store (§5.2.2.5).
  if (res.must_understand && !understood_status(status)) return StoreDecision::NotCacheableStatus;
  if (res.no_store && !res.must_understand) return StoreDecision::NoStore;
  // §5.2.2.7: a shared cache must not store private responses. The
  // field-list form only restricts those fields (see storable_fields).
  if (res.is_private) return StoreDecision::Private;
  // §3.5: authenticated responses only with explicit shared-cache consent.
  if (request.has_authorization && !res.is_public && !res.s_maxage && !res.must_revalidate) {
    return StoreDecision::Authorization;
  }

  // §3: final responses only. 206 needs range bookkeeping we do not do;
  // 304 updates a stored response (§4.3.4) and must never become one.
  if (status < 200 || status > 599 || status == 206 || status == 304) {
    return StoreDecision::NotCacheableStatus;
  }
  const bool explicit_fresh = response.explicit_freshness();
  // Other codes are storable only when the origin said for how long or
  // marked them public; a rule ttl does not make error responses cacheable.
  if (!heuristic_allowed(response) && !explicit_fresh) return StoreDecision::NotCacheableStatus;
  // §4.1: "Vary: *" never matches a later request, so storing is waste.
  if (response.vary_star) return StoreDecision::VaryStar;

  // A shared cache replaying one user's Set-Cookie to everyone leaks a
  // session; RFC 9111 §7.1 permits storing it, so only an explicit opt-in
  // does, and never on a lifetime relay guessed.
  const bool operator_ttl = cache::operator_ttl(policy, response.status).has_value();
  if (response.set_cookie) {
    if (policy.set_cookie == SetCookiePolicy::Pass) return StoreDecision::SetCookie;
    if (policy.set_cookie == SetCookiePolicy::Store && !explicit_fresh && !operator_ttl) {
      return StoreDecision::SetCookie;
    }
  }
  // A response to a request with Cookie may be personalised; only the
  // origin (public, s-maxage, max-age, Expires) or the operator (a rule
  // ttl) can say it is not, so no heuristic or default lifetime applies.
  if (request.has_cookie && !explicit_fresh && !res.is_public && !operator_ttl) {
    return StoreDecision::Cookie;
  }

  if (policy.max_object_size > 0 && response.content_length &&
      *response.content_length > policy.max_object_size) {
    return StoreDecision::TooLarge;
  }
  // §4.2.2: heuristic freshness is freshness, even when it rounds to 0 (the
  // stored copy still carries a validator worth revalidating).
  if (!explicit_fresh && !operator_ttl && configured_default_ttl(policy, response.status) <= Seconds{0} &&
      !heuristic_lifetime(response)) {
    return StoreDecision::NoFreshness;
  }
  return StoreDecision::Store;
}

StoreDecision may_store(std::string_view method, const http::Headers& request_headers, int status,
                        const http::Headers& response_headers, const Policy& policy) {
  return may_store(request_facts(method, request_headers),
                   response_facts(status, response_headers, policy.targeted_fields, wall_clock()),
                   policy);
}

http::Headers storable_fields(const http::Headers& response_headers, const CacheControl& effective,
                              const Policy& policy) {
  auto listed = [](const std::vector<std::string>& list, std::string_view name) {
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& n) { return http::iequals(n, name); });
  };
  http::Headers out;
  for (const auto& f : response_headers) {
    // The directives themselves are kept: dropping them would silently
    // change how the stored copy is treated.
    const bool directive_field =
        http::iequals(f.name, "Cache-Control") || listed(policy.targeted_fields, f.name);
    if (!directive_field &&
        (listed(effective.no_cache_fields, f.name) || listed(effective.private_fields, f.name))) {
      continue;
    }
    if (policy.set_cookie != SetCookiePolicy::Store && is_set_cookie(f.name)) continue;
    out.add(f.name, f.value);
  }
  return out;
}

http::Headers storable_fields(const http::Headers& response_headers, const Policy& policy) {
  return storable_fields(response_headers,
                         effective_cache_control(response_headers, policy.targeted_fields), policy);
}

Seconds freshness_lifetime(const ResponseFacts& response, const Policy& policy) {
  // A rule's ttl is the operator overriding the origin on purpose.
  if (auto ttl = operator_ttl(policy, response.status)) return non_negative(*ttl);
  // §4.2.1: first match wins; a shared cache prefers s-maxage.
  if (response.cc.s_maxage) return Seconds{*response.cc.s_maxage};
  if (response.cc.max_age) return Seconds{*response.cc.max_age};
  // RFC 9213 §2.2: a targeted field in use overrides Expires as well.
  if (!response.targeted && response.has_expires) {
    // §5.3: an invalid Expires (e.g. "0") means already expired. Date is
    // added at receipt when the origin omitted it (§4.2.3 assumes one), so a
    // missing Date is treated like an invalid Expires: stale.
    if (!response.expires || !response.date) return Seconds{0};
    return non_negative(seconds_between(*response.date, *response.expires));
  }
  if (auto h = heuristic_lifetime(response)) {
    return std::min(*h, non_negative(policy.heuristic_max));
  }
  return non_negative(configured_default_ttl(policy, response.status));
}

namespace {

bool listed(const Policy& policy, int status) noexcept {
  return std::find(policy.rule_statuses.begin(), policy.rule_statuses.end(), status) != policy.rule_statuses.end();
}

bool covered(const Policy& policy, int status) noexcept {
  return policy.rule_statuses.empty() || listed(policy, status);
}

// A missing page is usually missing for a while only (a mirror not synced
// yet): the configuration's lifetimes shrink to negative_ttl for it, unless
// the rule names the status itself.
Seconds negative_adjusted(const Policy& policy, int status, Seconds lifetime) noexcept {
  if ((status == 404 || status == 410) && policy.negative_ttl && !listed(policy, status)) return *policy.negative_ttl;
  return lifetime;
}

}  // namespace

std::optional<Seconds> operator_ttl(const Policy& policy, int status) noexcept {
  if (!policy.ttl_override) return std::nullopt;
  // Under a rule with a ttl a 404 / 410 gets negative_ttl, whatever statuses
  // the ttl itself covers (nginx: proxy_cache_valid 404 1m beside 200 30d).
  if ((status == 404 || status == 410) && policy.negative_ttl && !listed(policy, status)) return policy.negative_ttl;
  if (!covered(policy, status)) return std::nullopt;
  return *policy.ttl_override;
}

Seconds configured_default_ttl(const Policy& policy, int status) noexcept {
  const Seconds ttl = covered(policy, status) ? policy.default_ttl : policy.fallback_default_ttl;
  if (ttl <= Seconds{0}) return Seconds{0};
  return negative_adjusted(policy, status, ttl);
}

Seconds freshness_lifetime(const http::Headers& response_headers, const Policy& policy,
                           int status) {
  return freshness_lifetime(
      response_facts(status, response_headers, policy.targeted_fields, wall_clock()), policy);
}

Seconds freshness_lifetime(const http::Headers& response_headers, const Policy& policy) {
  // 200 stands for "a status may_store accepted": any other code was stored
  // only with explicit freshness, decided before the heuristic, or with
  // public, which allows the heuristic for every status.
  return freshness_lifetime(response_headers, policy, 200);
}

Seconds current_age(const ResponseFacts& response, SysTime request_time, SysTime response_time,
                    SysTime now) {
  // §4.2.3, with every intermediate clamped at zero so clock skew between
  // us and the origin can only make a response look younger, never negative.
  const Seconds apparent_age =
      response.date ? non_negative(seconds_between(*response.date, response_time)) : Seconds{0};
  const Seconds response_delay = non_negative(seconds_between(request_time, response_time));
  const Seconds corrected_age_value = Seconds{response.age.value_or(0)} + response_delay;
  const Seconds corrected_initial_age = std::max(apparent_age, corrected_age_value);
  const Seconds resident_time = non_negative(seconds_between(response_time, now));
  return corrected_initial_age + resident_time;
}

Seconds current_age(const http::Headers& response_headers, SysTime request_time,
                    SysTime response_time, SysTime now) {
  return current_age(response_facts(0, response_headers, {}, now), request_time, response_time,
                     now);
}

bool is_fresh(const http::Headers& response_headers, const Policy& policy, SysTime request_time,
              SysTime response_time, SysTime now) {
  return freshness_lifetime(response_headers, policy) >
         current_age(response_headers, request_time, response_time, now);
}

bool needs_validation(const RequestFacts& request, const ResponseFacts& response, Seconds age) {
  const CacheControl& req = request.cc;
  // max-age=0 is how clients ask for a reload: treat it as no-cache.
  return response.cc.no_cache || req.no_cache ||
         (req.max_age && (*req.max_age == 0 || age.count() > *req.max_age));
}

bool needs_validation(const http::Headers& request_headers, const http::Headers& response_headers,
                      Seconds age, const Policy& policy) {
  return needs_validation(
      request_facts("GET", request_headers),
      response_facts(200, response_headers, policy.targeted_fields, wall_clock()), age);
}

}  // namespace relay::cache
