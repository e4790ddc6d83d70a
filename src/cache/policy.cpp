// Per-path policy resolution ([cache] merged with the first matching
// [[cache.rules]] entry) and the verdict on a stored response for one
// request: fresh, stale but usable, or go to the origin first (RFC 9111
// §4.2, §5.2; RFC 5861; RFC 9213). Pure: `now` is always a parameter.
#include "relay/cache/policy.hpp"

#include <algorithm>
#include <chrono>

#include "relay/cache/cache_control.hpp"
#include "relay/cache/facts.hpp"
#include "relay/cache/key.hpp"

namespace relay::cache {

namespace {

// Config durations are milliseconds; HTTP freshness is whole seconds
// (delta-seconds, RFC 9111 §1.2.2), so sub-second parts are dropped.
Seconds whole_seconds(config::Duration d) {
  return std::chrono::duration_cast<Seconds>(d);
}

// The config loader accepts only these three words.
SetCookiePolicy set_cookie_policy(config::SetCookie choice) {
  switch (choice) {
    case config::SetCookie::Store: return SetCookiePolicy::Store;
    case config::SetCookie::Strip: return SetCookiePolicy::Strip;
    case config::SetCookie::Pass: break;
  }
  return SetCookiePolicy::Pass;
}

// RFC 5861 §3, §4: the response's own window, else the configured default.
Seconds window(const std::optional<std::int64_t>& directive, Seconds fallback) {
  return directive ? Seconds{*directive} : fallback;
}

struct Facts {
  Seconds age;
  Seconds remaining;  // lifetime - age; <= 0 means stale
  Seconds staleness;  // age - lifetime when stale, else 0
  bool fresh;
};

Verdict decide(const CacheControl& req, const ResponseFacts& stored, const Facts& f,
               const Policy& policy) {
  const CacheControl& res = stored.cc;
  // §5.2.2.4, §5.2.1.4: no-cache on either side; max-age=0 is how browsers
  // ask for a reload, so it is treated the same way.
  if (res.no_cache || req.no_cache) return Verdict::MustValidate;
  // §5.2.1.1: the client wants nothing older than N seconds.
  if (req.max_age && (*req.max_age == 0 || f.age > Seconds{*req.max_age})) {
    return Verdict::MustValidate;
  }
  // §5.2.1.3: the client wants it to stay fresh for at least N more seconds.
  if (req.min_fresh && f.remaining < Seconds{*req.min_fresh}) return Verdict::MustValidate;
  if (f.fresh) return Verdict::Fresh;

  if (stale_forbidden(stored)) return Verdict::MustValidate;
  // §5.2.1.2: the client accepts staleness, any (value-less) or up to N.
  if (req.max_stale_any || (req.max_stale && f.staleness <= Seconds{*req.max_stale})) {
    return Verdict::StaleAcceptable;
  }
  const Seconds swr = stale_while_revalidate_window(stored, policy);
  if (swr > Seconds{0} && f.staleness <= swr) return Verdict::StaleWhileRevalidate;
  return Verdict::MustValidate;
}

}  // namespace

const config::CacheRule* match_rule(const config::CacheConfig& cfg, std::string_view path,
                                    std::span<const config::CacheRule> route_rules) {
  // Rules are an ordered list: the first match applies, later ones are
  // never merged in, so the file reads top to bottom like a routing table.
  const auto first_match = [&](std::span<const config::CacheRule> rules) -> const config::CacheRule* {
    for (const auto& rule : rules)
      if (glob_match(rule.path, path)) return &rule;
    return nullptr;
  };
  const config::CacheRule* found = first_match(route_rules);
  return found ? found : first_match(cfg.rules);
}

ResolvedRule resolve_rule(const config::CacheConfig& cfg, const config::CacheRule* found) {
  ResolvedRule out;
  out.policy.default_ttl = whole_seconds(cfg.default_ttl);
  out.policy.fallback_default_ttl = out.policy.default_ttl;
  out.policy.negative_ttl = whole_seconds(cfg.negative_ttl);
  out.policy.max_object_size = cfg.max_object_size;
  out.policy.heuristic_max = whole_seconds(cfg.heuristic_max);
  out.policy.stale_while_revalidate = whole_seconds(cfg.stale_while_revalidate);
  out.policy.stale_if_error = whole_seconds(cfg.stale_if_error);
  out.policy.targeted_fields = cfg.targeted_fields;
  out.policy.set_cookie = set_cookie_policy(cfg.set_cookie);
  out.key = cfg.key;
  out.strip_request_headers = cfg.strip_request_headers;
  if (found) {
    const auto& rule = *found;
    out.rule = &rule;
    out.bypass = rule.bypass;
    if (rule.ttl) out.policy.ttl_override = whole_seconds(*rule.ttl);
    if (rule.default_ttl) out.policy.default_ttl = whole_seconds(*rule.default_ttl);
    out.policy.rule_statuses = rule.status_codes;
    if (rule.negative_ttl) out.policy.negative_ttl = whole_seconds(*rule.negative_ttl);
    if (rule.heuristic_max) out.policy.heuristic_max = whole_seconds(*rule.heuristic_max);
    if (rule.max_object_size) out.policy.max_object_size = *rule.max_object_size;
    if (rule.targeted_fields) out.policy.targeted_fields = *rule.targeted_fields;
    if (rule.coalesce) out.coalesce = *rule.coalesce;
    if (rule.stale_while_revalidate) {
      out.policy.stale_while_revalidate = whole_seconds(*rule.stale_while_revalidate);
    }
    if (rule.stale_if_error) out.policy.stale_if_error = whole_seconds(*rule.stale_if_error);
    if (rule.ignore_params) out.key.ignore_params = *rule.ignore_params;
    if (rule.key_headers) out.key.headers = *rule.key_headers;
    if (rule.key_scheme) out.key.scheme = *rule.key_scheme;
    if (rule.sort_query) out.key.sort_query = *rule.sort_query;
    if (rule.set_cookie) out.policy.set_cookie = set_cookie_policy(*rule.set_cookie);
    if (rule.strip_request_headers) out.strip_request_headers = *rule.strip_request_headers;
  }
  return out;
}

ResolvedRule resolve_rule(const config::CacheConfig& cfg, std::string_view path,
                          std::span<const config::CacheRule> route_rules) {
  return resolve_rule(cfg, match_rule(cfg, path, route_rules));
}

namespace {
bool by_rule(const std::pair<const config::CacheRule*, ResolvedRule>& entry, const config::CacheRule* rule) {
  return std::less<const config::CacheRule*>{}(entry.first, rule);
}
}  // namespace

ResolvedRules::ResolvedRules(const config::CacheConfig& cfg, std::span<const config::CacheRule* const> route_rules)
    : cfg_(cfg) {
  resolved_.emplace_back(nullptr, resolve_rule(cfg, nullptr));
  for (const auto& rule : cfg.rules) resolved_.emplace_back(&rule, resolve_rule(cfg, &rule));
  for (const auto* rule : route_rules) resolved_.emplace_back(rule, resolve_rule(cfg, rule));
  std::sort(resolved_.begin(), resolved_.end(), [](const auto& a, const auto& b) {
    return std::less<const config::CacheRule*>{}(a.first, b.first);
  });
}

const ResolvedRule& ResolvedRules::resolve(std::string_view path, std::span<const config::CacheRule> route_rules) const {
  const auto* rule = match_rule(cfg_, path, route_rules);
  const auto it = std::lower_bound(resolved_.begin(), resolved_.end(), rule, by_rule);
  // A rule of this configuration always has its entry (the constructor saw every one).
  return it != resolved_.end() && it->first == rule ? it->second : resolved_.front().second;
}

void strip_request_headers(http::Headers& request_headers, const ResolvedRule& rule) {
  for (const auto& name : rule.strip_request_headers) {
    const bool keyed = std::any_of(rule.key.headers.begin(), rule.key.headers.end(),
                                   [&](const std::string& k) { return http::iequals(k, name); });
    if (!keyed) request_headers.remove(name);
  }
}

bool stale_forbidden(const ResponseFacts& stored) noexcept {
  const CacheControl& res = stored.cc;
  return res.must_revalidate || res.proxy_revalidate || res.s_maxage.has_value() || res.no_cache;
}

Seconds stale_while_revalidate_window(const ResponseFacts& response, const Policy& policy) {
  return window(response.cc.stale_while_revalidate, policy.stale_while_revalidate);
}

Seconds stale_if_error_window(const ResponseFacts& response, const Policy& policy) {
  return window(response.cc.stale_if_error, policy.stale_if_error);
}

Classification classify(const RequestFacts& request, const StoredResponse& stored,
                        const Policy& policy, SysTime now) {
  Classification out;
  out.age = current_age(stored.facts, stored.request_time, stored.response_time, now);
  out.lifetime = freshness_lifetime(stored.facts, policy);
  if (stored.stale_at) {
    // Purged softly: the lifetime ends at the age the response had then.
    const auto age_then = *stored.stale_at <= stored.response_time
                              ? Seconds{0}
                              : current_age(stored.facts, stored.request_time, stored.response_time, *stored.stale_at);
    out.lifetime = std::min(out.lifetime, age_then);
  }

  Facts f;
  f.age = out.age;
  f.remaining = out.lifetime - out.age;
  f.fresh = f.remaining > Seconds{0};
  f.staleness = f.fresh ? Seconds{0} : out.age - out.lifetime;

  const CacheControl& req = request.cc;
  out.verdict = decide(req, stored.facts, f, policy);

  // RFC 5861 §4: the response's stale-if-error, else the request's, else
  // the configured default. A zero window still allows a fresh response:
  // serving it on an origin failure is no staleness at all.
  const Seconds sie = !stored.facts.cc.stale_if_error && req.stale_if_error
                          ? Seconds{*req.stale_if_error}
                          : stale_if_error_window(stored.facts, policy);
  out.stale_if_error =
      !stale_forbidden(stored.facts) && (f.fresh || (sie > Seconds{0} && f.staleness <= sie));
  return out;
}

Classification classify(const http::Headers& request_headers, const StoredFacts& stored,
                        const Policy& policy, SysTime now) {
  // The stored status passed may_store: 200 stands for it (see freshness_lifetime).
  const ResponseFacts facts = response_facts(200, stored.headers, policy.targeted_fields, now);
  return classify(request_facts("GET", request_headers),
                  StoredResponse{facts, stored.request_time, stored.response_time}, policy, now);
}

}  // namespace relay::cache
