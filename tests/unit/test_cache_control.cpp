// Cache-Control parsing robustness: real origins send odd casing, quotes,
// duplicates and junk, and every one of those must parse predictably. Also
// which field governs (targeted fields, RFC 9213, before Cache-Control) and
// which fields a field-qualified no-cache/private keeps out of storage.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "header_pairs.hpp"
#include "relay/cache/cache_control.hpp"
#include "relay/cache/freshness.hpp"

using relay::cache::CacheControl;
using relay::cache::parse_cache_control;
using relay::cache::parse_delta_seconds;
using Opt = std::optional<std::int64_t>;

TEST_CASE("cache-control: delta-seconds grammar (RFC 9111 1.2.2)") {
  struct Row {
    const char* in;
    Opt out;
  };
  const Row rows[] = {
      {"0", 0},
      {"60", 60},
      {"007", 7},
      {"2147483647", 2147483647},
      {"2147483648", 2147483648},
      {"99999999999999999999999", 2147483648},  // saturates, no overflow
      {"", std::nullopt},
      {"-1", std::nullopt},
      {"+5", std::nullopt},
      {"1.5", std::nullopt},
      {" 5", std::nullopt},
      {"5s", std::nullopt},
  };
  for (const auto& r : rows) {
    const std::string label = r.in;
    CAPTURE(label);
    CHECK(parse_delta_seconds(r.in) == r.out);
  }
}

TEST_CASE("cache-control: max-age and s-maxage values (RFC 9111 5.2.2.1, 5.2.2.10)") {
  struct Row {
    const char* in;
    Opt max_age;
    Opt s_maxage;
  };
  const Row rows[] = {
      {"max-age=60", 60, std::nullopt},
      {"MAX-AGE=60", 60, std::nullopt},
      {"Max-Age = 60", 60, std::nullopt},
      {"max-age=\"60\"", 60, std::nullopt},  // §5.2: quoted form accepted
      {"s-maxage=10, max-age=60", 60, 10},
      {"max-age=60, max-age=5", 60, std::nullopt},      // first occurrence wins
      {"max-age=abc", 0, std::nullopt},                 // invalid: stale
      {"max-age=-1", 0, std::nullopt},
      {"max-age=", 0, std::nullopt},
      {"max-age", 0, std::nullopt},
      {"max-age=abc, max-age=30", 30, std::nullopt},    // first *valid* wins
      {"max-age=30, max-age=abc", 30, std::nullopt},
      {"s-maxage=1e3", std::nullopt, 0},
      {"", std::nullopt, std::nullopt},
      {"max-agex=5", std::nullopt, std::nullopt},
  };
  for (const auto& r : rows) {
    const std::string label = r.in;
    CAPTURE(label);
    auto cc = parse_cache_control(std::string_view(r.in));
    CHECK(cc.max_age == r.max_age);
    CHECK(cc.s_maxage == r.s_maxage);
  }
}

TEST_CASE("cache-control: boolean directives, any case (RFC 9111 5.2)") {
  auto cc = parse_cache_control(std::string_view(
      "No-Store, PUBLIC, must-revalidate, Proxy-Revalidate, must-understand, immutable, "
      "only-if-cached, no-transform"));
  CHECK(cc.no_store);
  CHECK(cc.is_public);
  CHECK(cc.must_revalidate);
  CHECK(cc.proxy_revalidate);
  CHECK(cc.must_understand);
  CHECK(cc.immutable);
  CHECK(cc.only_if_cached);
  CHECK(cc.no_transform);
  CHECK_FALSE(cc.no_cache);
  CHECK_FALSE(cc.is_private);

  auto none = parse_cache_control(std::string_view(""));
  CHECK_FALSE(none.no_store);
  CHECK_FALSE(none.is_public);
  CHECK_FALSE(none.max_stale_any);
}

TEST_CASE("cache-control: unknown directives are ignored (RFC 9111 5.2.3)") {
  auto cc = parse_cache_control(std::string_view(
      "community=\"UCI, no-store\", foo, bar=baz, max-age=5, x-y=\"a=b\""));
  CHECK(cc.max_age == 5);
  CHECK_FALSE(cc.no_store);  // inside another directive's quoted value
}

TEST_CASE("cache-control: no-cache and private field lists (RFC 9111 5.2.2.4, 5.2.2.7)") {
  struct Row {
    const char* in;
    bool no_cache;
    std::vector<std::string> no_cache_fields;
    bool is_private;
    std::vector<std::string> private_fields;
  };
  const Row rows[] = {
      {"no-cache", true, {}, false, {}},
      {"private", false, {}, true, {}},
      {"NO-CACHE=\"Set-Cookie\"", false, {"set-cookie"}, false, {}},
      {"private=\"Set-Cookie, X-User\"", false, {}, false, {"set-cookie", "x-user"}},
      {"private=set-cookie", false, {}, false, {"set-cookie"}},  // token form
      {"no-cache=\"\"", true, {}, false, {}},                      // empty list: conservative
      {"no-cache=\"a\", no-cache", true, {"a"}, false, {}},
      {"private, private=\"b\"", false, {}, true, {"b"}},
  };
  for (const auto& r : rows) {
    const std::string label = r.in;
    CAPTURE(label);
    auto cc = parse_cache_control(std::string_view(r.in));
    CHECK(cc.no_cache == r.no_cache);
    CHECK(cc.no_cache_fields == r.no_cache_fields);
    CHECK(cc.is_private == r.is_private);
    CHECK(cc.private_fields == r.private_fields);
  }
}

TEST_CASE("cache-control: request directives (RFC 9111 5.2.1)") {
  struct Row {
    const char* in;
    Opt max_stale;
    bool any;
    Opt min_fresh;
  };
  const Row rows[] = {
      {"max-stale", std::nullopt, true, std::nullopt},
      {"max-stale=30", 30, false, std::nullopt},
      {"max-stale=\"30\"", 30, false, std::nullopt},
      {"max-stale=x", 0, false, std::nullopt},
      {"min-fresh=20", std::nullopt, false, 20},
      {"min-fresh=20, min-fresh=5", std::nullopt, false, 20},
  };
  for (const auto& r : rows) {
    const std::string label = r.in;
    CAPTURE(label);
    auto cc = parse_cache_control(std::string_view(r.in));
    CHECK(cc.max_stale == r.max_stale);
    CHECK(cc.max_stale_any == r.any);
    CHECK(cc.min_fresh == r.min_fresh);
  }
}

TEST_CASE("cache-control: stale extensions (RFC 5861 3, 4)") {
  auto cc = parse_cache_control(
      std::string_view("max-age=1, stale-while-revalidate=30, stale-if-error=\"600\""));
  CHECK(cc.stale_while_revalidate == 30);
  CHECK(cc.stale_if_error == 600);
  auto bad = parse_cache_control(std::string_view("stale-while-revalidate=soon"));
  CHECK(bad.stale_while_revalidate == 0);
}

TEST_CASE("cache-control: multiple field lines are combined (RFC 9110 5.3)") {
  relay::http::Headers h;
  h.add("Cache-Control", "public");
  h.add("Content-Type", "text/plain");
  h.add("cache-control", "max-age=60, s-maxage=30");
  h.add("CACHE-CONTROL", "max-age=5, no-transform");
  auto cc = parse_cache_control(h);
  CHECK(cc.is_public);
  CHECK(cc.max_age == 60);  // the first line's occurrence wins
  CHECK(cc.s_maxage == 30);
  CHECK(cc.no_transform);

  relay::http::Headers empty;
  auto none = parse_cache_control(empty);
  CHECK_FALSE(none.max_age);
  CHECK_FALSE(none.no_store);
}

TEST_CASE("cache-control: tolerant of stray separators and whitespace (RFC 9110 5.6.1)") {
  auto cc = parse_cache_control(std::string_view(" ,, max-age=10 ,\tno-store,  ,"));
  CHECK(cc.max_age == 10);
  CHECK(cc.no_store);
}

namespace {

using relay::test::make_headers;
using relay::test::Pairs;

}  // namespace

TEST_CASE("cache-control: first valid targeted field replaces Cache-Control (RFC 9213 2.1, 2.2)") {
  const std::vector<std::string> cdn = {"CDN-Cache-Control"};
  const std::vector<std::string> relay_first = {"Relay-CC", "CDN-Cache-Control"};
  struct Row {
    const char* what;
    Pairs headers;
    std::vector<std::string> targeted;
    bool used;
    Opt max_age;
    bool no_store;
  };
  const std::vector<Row> rows = {
      {"targeted beats Cache-Control",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=60"}}, cdn, true, 60,
       false},
      {"absent: Cache-Control", {{"Cache-Control", "max-age=10"}}, cdn, false, 10, false},
      {"empty value is not valid",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", ""}}, cdn, false, 10, false},
      {"a valid field without known directives still replaces Cache-Control",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "foo, bar=1"}}, cdn, true,
       std::nullopt, false},
      {"\"none\" (RFC 9213 3.1)", {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "none"}}, cdn,
       true, std::nullopt, false},
      {"a syntax error anywhere invalidates the field",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=10000, &&&&&"}}, cdn, false,
       10, false},
      {"a String max-age is not an Integer: the field is invalid",
       {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=\"10000\""}}, cdn, false,
       std::nullopt, true},
      {"a Token max-age is not an Integer",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=soon"}}, cdn, false, 10,
       false},
      {"a Decimal max-age is not an Integer",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=1.5"}}, cdn, false, 10,
       false},
      {"a negative max-age is no delta-seconds",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=-1"}}, cdn, false, 10,
       false},
      {"a value-less max-age is the Boolean true, not an Integer",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age"}}, cdn, false, 10, false},
      {"an inner-list max-age",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=(60)"}}, cdn, false, 10,
       false},
      {"no-store=?0 is not the Boolean true",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "no-store=?0"}}, cdn, false, 10,
       false},
      {"keys are case-sensitive: MaX-aGe is no key at all",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "MaX-aGe=60"}}, cdn, false, 10,
       false},
      {"no whitespace before '='",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age =100"}}, cdn, false, 10,
       false},
      {"no whitespace after '='",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age= 100"}}, cdn, false, 10,
       false},
      {"parameters are ignored",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=60;foo=bar"}}, cdn, true, 60,
       false},
      {"unknown members of any type are ignored",
       {{"CDN-Cache-Control", "x=\"1\", y=(1 2), z=:AAA=:, max-age=60"}}, cdn, true, 60, false},
      {"request directives are no response directives", {{"CDN-Cache-Control", "max-stale=\"x\""}},
       cdn, true, std::nullopt, false},
      {"Integers saturate like delta-seconds (RFC 9111 1.2.2)",
       {{"CDN-Cache-Control", "max-age=99999999999"}}, cdn, true, std::int64_t{1} << 31, false},
      {"field names are case-insensitive",
       {{"Cache-Control", "max-age=10"}, {"cdn-cache-control", "max-age=60"}}, cdn, true, 60,
       false},
      {"lines of the targeted field combine",
       {{"CDN-Cache-Control", "public"}, {"CDN-Cache-Control", "max-age=60"}}, cdn, true, 60,
       false},
      {"one bad line spoils the combined field",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=60"},
        {"CDN-Cache-Control", "&"}},
       cdn, false, 10, false},
      {"targeted no-store, nothing inherited from Cache-Control",
       {{"Cache-Control", "public, max-age=10"}, {"CDN-Cache-Control", "no-store"}}, cdn, true,
       std::nullopt, true},
      {"list order: first listed wins",
       {{"CDN-Cache-Control", "max-age=60"}, {"Relay-CC", "max-age=5"}}, relay_first, true, 5,
       false},
      {"list order: later entry when the first is absent",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=60"}}, relay_first, true,
       60, false},
      {"list order: later entry when the first is invalid",
       {{"Relay-CC", "Junk"}, {"CDN-Cache-Control", "max-age=60"}}, relay_first, true, 60, false},
      {"empty list: targeted fields are ordinary fields",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=60"}}, {}, false, 10,
       false},
  };
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    const auto h = make_headers(r.headers);
    bool used = !r.used;
    auto cc = relay::cache::effective_cache_control(h, r.targeted, &used);
    CHECK(used == r.used);
    CHECK(cc.max_age == r.max_age);
    CHECK(cc.no_store == r.no_store);
    // The out-parameter is optional.
    CHECK(relay::cache::effective_cache_control(h, r.targeted).max_age == r.max_age);
  }
}

TEST_CASE("cache-control: targeted directives map from Structured Field types (RFC 9213 2.1)") {
  const std::vector<std::string> cdn = {"CDN-Cache-Control"};
  auto parse = [&](const char* value) {
    bool used = false;
    auto cc = relay::cache::effective_cache_control(make_headers({{"CDN-Cache-Control", value}}), cdn, &used);
    CHECK(used);
    return cc;
  };
  auto cc = parse(R"(private="X-User, x-token", no-cache="Set-Cookie", s-maxage=5, stale-while-revalidate=7, )"
                  R"(stale-if-error=9, must-revalidate, proxy-revalidate, public, immutable, no-transform)");
  CHECK(cc.private_fields == std::vector<std::string>{"x-user", "x-token"});
  CHECK_FALSE(cc.is_private);
  CHECK(cc.no_cache_fields == std::vector<std::string>{"set-cookie"});
  CHECK_FALSE(cc.no_cache);
  CHECK(cc.s_maxage == 5);
  CHECK(cc.stale_while_revalidate == 7);
  CHECK(cc.stale_if_error == 9);
  CHECK(cc.must_revalidate);
  CHECK(cc.proxy_revalidate);
  CHECK(cc.is_public);
  CHECK(cc.immutable);
  CHECK(cc.no_transform);
  CHECK_FALSE(cc.max_age.has_value());

  cc = parse("private, no-cache, must-understand, no-store");
  CHECK(cc.is_private);
  CHECK(cc.no_cache);
  CHECK(cc.must_understand);
  CHECK(cc.no_store);
  // An empty list names nothing: the unqualified directive, as in Cache-Control.
  CHECK(parse(R"(no-cache="")").no_cache);
  // A repeated key: the last value (RFC 8941 4.2.2).
  CHECK(parse("max-age=5, max-age=60").max_age == 60);
}

TEST_CASE("cache-control: targeted field governs lifetime, storage, validation (RFC 9213 2.2)") {
  using relay::cache::Policy;
  using relay::cache::Seconds;
  using relay::cache::StoreDecision;
  const Policy p{};  // targets CDN-Cache-Control, like the default config
  const Policy none{.targeted_fields = {}};
  const Policy custom{.targeted_fields = {"Relay-CC", "CDN-Cache-Control"}};
  // Expires an hour after Date, under every response below.
  auto with = [](Pairs extra) {
    Pairs h = {{"Date", "Mon, 15 Jan 2024 12:00:00 GMT"},
               {"Expires", "Mon, 15 Jan 2024 13:00:00 GMT"}};
    h.insert(h.end(), extra.begin(), extra.end());
    return make_headers(h);
  };

  struct LifetimeRow {
    const char* what;
    Pairs extra;
    Policy policy;
    std::int64_t lifetime;
  };
  const std::vector<LifetimeRow> lifetimes = {
      {"targeted beats Cache-Control",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=60"}}, p, 60},
      {"a used targeted field hides Expires", {{"CDN-Cache-Control", "public"}}, p, 0},
      {"an invalid one falls back to Expires", {{"CDN-Cache-Control", "max-age=\"60\""}}, p, 3600},
      {"\"none\" hides Cache-Control and Expires",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "none"}}, p, 0},
      {"not configured: ordinary field", {{"CDN-Cache-Control", "max-age=60"}}, none, 3600},
      {"configured order", {{"CDN-Cache-Control", "max-age=60"}, {"Relay-CC", "max-age=5"}},
       custom, 5},
  };
  for (const auto& r : lifetimes) {
    const std::string label = r.what;
    CAPTURE(label);
    CHECK(relay::cache::freshness_lifetime(with(r.extra), r.policy).count() == r.lifetime);
  }

  struct StoreRow {
    const char* what;
    Pairs req;
    int status;
    Pairs extra;
    StoreDecision expected;
  };
  const std::vector<StoreRow> stores = {
      {"targeted no-store beats public", {}, 200,
       {{"Cache-Control", "public"}, {"CDN-Cache-Control", "no-store"}}, StoreDecision::NoStore},
      {"targeted max-age beats private", {}, 200,
       {{"Cache-Control", "private"}, {"CDN-Cache-Control", "max-age=60"}}, StoreDecision::Store},
      {"targeted public allows Authorization", {{"Authorization", "Bearer x"}}, 200,
       {{"CDN-Cache-Control", "public, max-age=60"}}, StoreDecision::Store},
      {"Expires ignored: a public 500 has no freshness", {}, 500, {{"CDN-Cache-Control", "public"}},
       StoreDecision::NoFreshness},
      {"Expires ignored: a 500 without public is refused for its status", {}, 500,
       {{"CDN-Cache-Control", "none"}}, StoreDecision::NotCacheableStatus},
      {"without one, Expires makes 500 storable", {}, 500, {}, StoreDecision::Store},
  };
  for (const auto& r : stores) {
    const std::string label = r.what;
    CAPTURE(label);
    auto got = relay::cache::may_store("GET", make_headers(r.req), r.status, with(r.extra), p);
    CHECK(relay::cache::to_string(got) == relay::cache::to_string(r.expected));
  }

  const auto res = make_headers({{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "no-cache"}});
  const relay::http::Headers req;
  CHECK(relay::cache::needs_validation(req, res, Seconds{1}, p));
  CHECK(relay::cache::needs_validation(req, res, Seconds{1}));  // default Policy targets it too
  CHECK_FALSE(relay::cache::needs_validation(req, res, Seconds{1}, none));
}

TEST_CASE("cache-control: fields named by no-cache/private are not stored (RFC 9111 5.2.2.4, 5.2.2.7)") {
  struct Row {
    const char* what;
    Pairs res;
    std::vector<std::string> kept;
  };
  const std::vector<Row> rows = {
      {"nothing named", {{"Cache-Control", "max-age=60"}, {"Set-Cookie", "a=1"}},
       {"Cache-Control", "Set-Cookie"}},
      {"no-cache list, every line, any case",
       {{"Cache-Control", "no-cache=\"Set-Cookie\", max-age=60"}, {"set-cookie", "a=1"},
        {"Set-Cookie", "b=2"}, {"ETag", "\"x\""}},
       {"Cache-Control", "ETag"}},
      {"private list",
       {{"Cache-Control", "private=\"X-User, X-Token\""}, {"X-User", "u"}, {"X-Token", "t"},
        {"Content-Type", "text/plain"}},
       {"Cache-Control", "Content-Type"}},
      {"the targeted field's lists apply",
       {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "no-cache=\"x-a\", max-age=60"},
        {"X-A", "1"}, {"X-B", "2"}},
       {"Cache-Control", "CDN-Cache-Control", "X-B"}},
      {"the directives themselves stay",
       {{"Cache-Control", "no-cache=\"cache-control\", max-age=60"}}, {"Cache-Control"}},
  };
  // set_cookie = "store": the RFC's own rules, where Set-Cookie may be stored.
  relay::cache::Policy rfc;
  rfc.set_cookie = relay::cache::SetCookiePolicy::Store;
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    std::vector<std::string> kept;
    for (const auto& f : relay::cache::storable_fields(make_headers(r.res), rfc)) {
      kept.push_back(f.name);
    }
    CHECK(kept == r.kept);
  }
}
