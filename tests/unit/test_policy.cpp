// Per-path rules and the verdict on a stored response: which [[cache.rules]]
// entry applies, the lifetimes only relay's policy can give (heuristic,
// rule ttl), and fresh / stale-acceptable / stale-while-revalidate /
// must-validate plus stale-if-error for every request and response
// directive that decides it. The clock is injected: nothing sleeps.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fixed_clock.hpp"
#include "header_pairs.hpp"
#include "relay/cache/policy.hpp"

using namespace std::chrono_literals;
using relay::cache::Policy;
using relay::cache::Seconds;
using relay::cache::SysTime;
using relay::cache::Verdict;
using relay::http::Headers;

namespace {

using relay::test::make_headers;
using relay::test::Pairs;

// 2024-01-15 12:00:00 UTC; every stored response below has this Date and
// was received at this instant, so its age is exactly `now - kNow`.
using relay::test::kDate;
using relay::test::kLm5d;  // 432000 s before kDate
using relay::test::kNow;
constexpr const char* kLm30d = "Sat, 16 Dec 2023 12:00:00 GMT";  // 2592000 s before kDate

std::string name(Verdict v) {
  switch (v) {
    case Verdict::Fresh: return "fresh";
    case Verdict::StaleAcceptable: return "stale-acceptable";
    case Verdict::StaleWhileRevalidate: return "stale-while-revalidate";
    case Verdict::MustValidate: return "must-validate";
  }
  return "?";
}

relay::config::CacheRule rule(std::string path) {
  relay::config::CacheRule r;
  r.path = std::move(path);
  return r;
}

relay::config::CacheConfig sample_config() {
  relay::config::CacheConfig cfg;
  cfg.default_ttl = 60s;
  cfg.max_object_size = 1000;
  cfg.heuristic_max = 3600s;
  cfg.stale_while_revalidate = 10s;
  cfg.stale_if_error = 20s;
  cfg.targeted_fields = {"X-CC"};
  cfg.key.headers = {"Accept-Language"};
  auto statics = rule("/static/*");
  statics.ttl = 1h;
  auto shadowed = rule("/static/special/*");  // after a broader rule: never applies
  shadowed.ttl = 5s;
  auto api = rule("/api/*");
  api.bypass = true;
  auto docs = rule("/docs/*");
  docs.default_ttl = 1500ms;  // whole seconds: 1
  docs.stale_while_revalidate = 30s;
  docs.stale_if_error = 24h;
  docs.ignore_params = std::vector<std::string>{"session"};
  docs.key_headers = std::vector<std::string>{"Cookie"};
  cfg.rules = {statics, shadowed, api, docs};
  return cfg;
}

}  // namespace

TEST_CASE("policy: no matching rule keeps the [cache] settings (RFC 9111 4.2.1, RFC 5861)") {
  const auto cfg = sample_config();
  for (const char* path : {"/other", "/static", "/api", "/Docs/x", ""}) {
    CAPTURE(std::string(path));
    const auto r = relay::cache::resolve_rule(cfg, path);
    CHECK(r.rule == nullptr);
    CHECK_FALSE(r.bypass);
    CHECK(r.policy.default_ttl == 60s);
    CHECK(r.policy.max_object_size == 1000);
    CHECK(r.policy.heuristic_max == 3600s);
    CHECK_FALSE(r.policy.ttl_override);
    CHECK(r.policy.stale_while_revalidate == 10s);
    CHECK(r.policy.stale_if_error == 20s);
    CHECK(r.policy.targeted_fields == std::vector<std::string>{"X-CC"});
    CHECK(r.key.ignore_params == cfg.key.ignore_params);
    CHECK(r.key.headers == std::vector<std::string>{"Accept-Language"});
    CHECK(r.key.sort_query == cfg.key.sort_query);
  }
}

TEST_CASE("policy: the first matching rule wins, '*' crosses '/' (RFC 9111 4.2.1)") {
  const auto cfg = sample_config();
  for (const char* path : {"/static/", "/static/a.css", "/static/special/b/c.js"}) {
    CAPTURE(std::string(path));
    const auto r = relay::cache::resolve_rule(cfg, path);
    CHECK(r.rule == &cfg.rules[0]);
    CHECK(r.policy.ttl_override == Seconds{3600});
    CHECK(r.policy.default_ttl == 60s);  // untouched by this rule
  }
}

TEST_CASE("policy: each rule field overrides its setting (RFC 9111 4.2.1, RFC 5861 3, 4)") {
  const auto cfg = sample_config();
  const auto api = relay::cache::resolve_rule(cfg, "/api/v1/users");
  CHECK(api.rule == &cfg.rules[2]);
  CHECK(api.bypass);
  CHECK(api.policy.default_ttl == 60s);

  const auto docs = relay::cache::resolve_rule(cfg, "/docs/guide");
  CHECK(docs.rule == &cfg.rules[3]);
  CHECK_FALSE(docs.bypass);
  CHECK_FALSE(docs.policy.ttl_override);
  CHECK(docs.policy.default_ttl == 1s);
  CHECK(docs.policy.stale_while_revalidate == 30s);
  CHECK(docs.policy.stale_if_error == 86400s);
  CHECK(docs.key.ignore_params == std::vector<std::string>{"session"});
  CHECK(docs.key.headers == std::vector<std::string>{"Cookie"});
  // Settings rules cannot change stay as configured.
  CHECK(docs.policy.heuristic_max == 3600s);
  CHECK(docs.policy.max_object_size == 1000);
  CHECK(docs.policy.targeted_fields == std::vector<std::string>{"X-CC"});
}

TEST_CASE("policy: heuristic is 10% of Date - Last-Modified, capped (RFC 9111 4.2.2)") {
  const Policy p{.default_ttl = Seconds{7}};
  const Policy short_cap{.default_ttl = Seconds{7}, .heuristic_max = Seconds{3600}};
  const Pairs heur = {{"Date", kDate}, {"Last-Modified", kLm5d}};
  struct Row {
    const char* what;
    int status;
    Pairs res;
    Policy policy;
    std::int64_t lifetime;
  };
  const std::vector<Row> rows = {
      {"10% of five days", 200, heur, p, 43200},
      {"capped at heuristic_max", 200, {{"Date", kDate}, {"Last-Modified", kLm30d}}, p, 86400},
      {"configured cap", 200, heur, short_cap, 3600},
      {"rounds down", 200, {{"Date", kDate}, {"Last-Modified", "Mon, 15 Jan 2024 11:58:30 GMT"}},
       p, 9},
      {"404 is heuristically cacheable", 404, heur, p, 43200},
      {"302 is not: default", 302, heur, p, 7},
      {"500 is not: default", 500, heur, p, 7},
      {"max-age beats heuristic", 200,
       {{"Date", kDate}, {"Last-Modified", kLm5d}, {"Cache-Control", "max-age=5"}}, p, 5},
      {"Expires beats heuristic", 200,
       {{"Date", kDate}, {"Last-Modified", kLm5d}, {"Expires", "Mon, 15 Jan 2024 12:01:00 GMT"}},
       p, 60},
      {"Last-Modified after Date: default", 200,
       {{"Date", kDate}, {"Last-Modified", "Mon, 15 Jan 2024 13:00:00 GMT"}}, p, 7},
      {"Last-Modified == Date: default", 200, {{"Date", kDate}, {"Last-Modified", kDate}}, p, 7},
      {"invalid Last-Modified: default", 200, {{"Date", kDate}, {"Last-Modified", "yesterday"}},
       p, 7},
      {"no Date: default", 200, {{"Last-Modified", kLm5d}}, p, 7},
  };
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    CHECK(relay::cache::freshness_lifetime(make_headers(r.res), r.policy, r.status).count() ==
          r.lifetime);
  }
  // Without a status the response is one may_store accepted: heuristic applies.
  CHECK(relay::cache::freshness_lifetime(make_headers(heur), p) == Seconds{43200});
}

TEST_CASE("policy: a rule ttl replaces the origin's freshness (RFC 9111 4.2.1)") {
  Policy p{.default_ttl = Seconds{7}};
  p.ttl_override = Seconds{900};
  const std::vector<Pairs> responses = {
      {},
      {{"Cache-Control", "max-age=0"}},
      {{"Cache-Control", "s-maxage=60, max-age=30"}},
      {{"Date", kDate}, {"Expires", "0"}},
      {{"Date", kDate}, {"Last-Modified", kLm30d}},
      {{"CDN-Cache-Control", "max-age=5"}},
  };
  for (const auto& res : responses) {
    CAPTURE(res.size());
    CHECK(relay::cache::freshness_lifetime(make_headers(res), p, 200) == Seconds{900});
  }
  p.ttl_override = Seconds{0};  // "always revalidate" is an override too
  CHECK(relay::cache::freshness_lifetime(make_headers({{"Cache-Control", "max-age=60"}}), p) ==
        Seconds{0});
}


TEST_CASE("policy: classify by age, lifetime and directives (RFC 9111 4.2, 5.2; RFC 5861)") {
  const Policy p{};
  const Policy swr30{.stale_while_revalidate = 30s};
  const Policy sie100{.stale_if_error = 100s};
  Policy rule_ttl;
  rule_ttl.ttl_override = 900s;
  using V = Verdict;
  const Pairs max60 = {{"Cache-Control", "max-age=60"}};
  const Pairs max_stale = {{"Cache-Control", "max-stale"}};
  struct Row {
    const char* what;
    Pairs req;
    Pairs res;  // Date: kDate is added
    Policy policy;
    int age;    // seconds after kNow
    Verdict verdict;
    bool stale_if_error;
  };
  const std::vector<Row> rows = {
      {"fresh (4.2)", {}, max60, p, 10, V::Fresh, true},
      {"stale, no window", {}, max60, p, 70, V::MustValidate, false},
      {"age == lifetime is stale (4.2)", {}, max60, p, 60, V::MustValidate, false},
      {"response no-cache (5.2.2.4)", {}, {{"Cache-Control", "no-cache, max-age=60"}}, p, 10,
       V::MustValidate, false},
      {"qualified no-cache is not (5.2.2.4)", {},
       {{"Cache-Control", "no-cache=\"set-cookie\", max-age=60"}}, p, 10, V::Fresh, true},
      {"request no-cache (5.2.1.4)", {{"Cache-Control", "no-cache"}}, max60, p, 10,
       V::MustValidate, true},
      {"Pragma without Cache-Control (5.4)", {{"Pragma", "no-cache"}}, max60, p, 10,
       V::MustValidate, true},
      {"Pragma ignored beside Cache-Control (5.4)",
       {{"Pragma", "no-cache"}, {"Cache-Control", "max-stale=1"}}, max60, p, 10, V::Fresh, true},
      {"request max-age=0 (5.2.1.1)", {{"Cache-Control", "max-age=0"}}, max60, p, 0,
       V::MustValidate, true},
      {"request max-age exceeded (5.2.1.1)", {{"Cache-Control", "max-age=5"}}, max60, p, 10,
       V::MustValidate, true},
      {"request max-age met (5.2.1.1)", {{"Cache-Control", "max-age=10"}}, max60, p, 10, V::Fresh,
       true},
      {"min-fresh unmet (5.2.1.3)", {{"Cache-Control", "min-fresh=51"}}, max60, p, 10,
       V::MustValidate, true},
      {"min-fresh met (5.2.1.3)", {{"Cache-Control", "min-fresh=50"}}, max60, p, 10, V::Fresh,
       true},
      {"max-stale any (5.2.1.2)", max_stale, max60, p, 1000, V::StaleAcceptable, false},
      {"max-stale=30 within (5.2.1.2)", {{"Cache-Control", "max-stale=30"}}, max60, p, 90,
       V::StaleAcceptable, false},
      {"max-stale=30 exceeded (5.2.1.2)", {{"Cache-Control", "max-stale=30"}}, max60, p, 91,
       V::MustValidate, false},
      {"must-revalidate forbids stale (5.2.2.2)", max_stale,
       {{"Cache-Control", "max-age=60, must-revalidate, stale-if-error=100"}}, sie100, 70,
       V::MustValidate, false},
      {"must-revalidate forbids stale-if-error even fresh (4.2.4)", {},
       {{"Cache-Control", "max-age=60, must-revalidate"}}, sie100, 10, V::Fresh, false},
      {"proxy-revalidate forbids stale (5.2.2.8)", max_stale,
       {{"Cache-Control", "max-age=60, proxy-revalidate"}}, p, 70, V::MustValidate, false},
      {"s-maxage forbids stale (5.2.2.10)", max_stale, {{"Cache-Control", "s-maxage=60"}}, swr30,
       70, V::MustValidate, false},
      {"response SWR window (RFC 5861 3)", {},
       {{"Cache-Control", "max-age=60, stale-while-revalidate=30"}}, p, 90,
       V::StaleWhileRevalidate, false},
      {"past the response SWR window (RFC 5861 3)", {},
       {{"Cache-Control", "max-age=60, stale-while-revalidate=30"}}, p, 91, V::MustValidate,
       false},
      {"policy SWR default (RFC 5861 3)", {}, max60, swr30, 80, V::StaleWhileRevalidate, false},
      {"response SWR beats policy (RFC 5861 3)", {},
       {{"Cache-Control", "max-age=60, stale-while-revalidate=5"}}, swr30, 80, V::MustValidate,
       false},
      {"max-stale before SWR (5.2.1.2)", max_stale,
       {{"Cache-Control", "max-age=60, stale-while-revalidate=30"}}, p, 80, V::StaleAcceptable,
       false},
      {"must-revalidate beats SWR (5.2.2.2)", {},
       {{"Cache-Control", "max-age=60, must-revalidate, stale-while-revalidate=30"}}, p, 80,
       V::MustValidate, false},
      {"response stale-if-error within (RFC 5861 4)", {},
       {{"Cache-Control", "max-age=60, stale-if-error=100"}}, p, 160, V::MustValidate, true},
      {"response stale-if-error past (RFC 5861 4)", {},
       {{"Cache-Control", "max-age=60, stale-if-error=100"}}, p, 161, V::MustValidate, false},
      {"request stale-if-error (RFC 5861 4)", {{"Cache-Control", "stale-if-error=100"}}, max60, p,
       110, V::MustValidate, true},
      {"response window beats request's (RFC 5861 4)", {{"Cache-Control", "stale-if-error=100"}},
       {{"Cache-Control", "max-age=60, stale-if-error=10"}}, p, 110, V::MustValidate, false},
      {"policy stale-if-error default (RFC 5861 4)", {}, max60, sie100, 110, V::MustValidate,
       true},
      {"response window beats policy (RFC 5861 4)", {},
       {{"Cache-Control", "max-age=60, stale-if-error=10"}}, sie100, 110, V::MustValidate, false},
      {"targeted field's lifetime (RFC 9213 2.2)", {},
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=600"}}, p, 100, V::Fresh,
       true},
      {"targeted field's must-revalidate (RFC 9213 2.2)", max_stale,
       {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "max-age=60, must-revalidate"}}, p,
       70, V::MustValidate, false},
      {"rule ttl (4.2.1)", {}, {{"Cache-Control", "max-age=0"}}, rule_ttl, 100, V::Fresh, true},
      {"heuristic (4.2.2)", {}, {{"Last-Modified", kLm5d}}, p, 100, V::Fresh, true},
  };
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    Pairs res = r.res;
    res.emplace_back("Date", kDate);
    const Headers stored_headers = make_headers(res);
    const relay::cache::StoredFacts stored{stored_headers, kNow, kNow};
    const auto c = relay::cache::classify(make_headers(r.req), stored, r.policy,
                                          kNow + Seconds{r.age});
    CHECK(name(c.verdict) == name(r.verdict));
    CHECK(c.stale_if_error == r.stale_if_error);
    CHECK(c.age == Seconds{r.age});
  }
}

TEST_CASE("policy: classify reports age and lifetime (RFC 9111 4.2.3)") {
  const Headers res = make_headers({{"Date", kDate}, {"Age", "30"}, {"Cache-Control", "max-age=100"}});
  const relay::cache::StoredFacts stored{res, kNow, kNow + 2s};
  const auto c = relay::cache::classify({}, stored, Policy{}, kNow + 12s);
  CHECK(c.age == 42s);  // Age + response delay + resident time
  CHECK(c.lifetime == 100s);
  CHECK(name(c.verdict) == "fresh");
}
