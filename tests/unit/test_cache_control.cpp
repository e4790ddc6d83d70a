// Cache-Control parsing robustness: real origins send odd casing, quotes,
// duplicates and junk, and every one of those must parse predictably.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "relay/cache/cache_control.hpp"

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
