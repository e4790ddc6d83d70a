// The origin verdict (cache::on_origin_response): every branch, table-driven
// where the branch has variants, with the RFC section in the test name. The
// facts are parsed with an injected clock; nothing sleeps.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "fixed_clock.hpp"
#include "header_pairs.hpp"
#include "relay/cache/origin_verdict.hpp"
#include "relay/cache/policy.hpp"

using namespace std::chrono_literals;
namespace cache = relay::cache;
using cache::OriginFailure;
using relay::http::Headers;

namespace {

using relay::test::make_headers;
using relay::test::Pairs;

using relay::test::kDate;
using relay::test::kNow;

// One scenario: an optional stored response, a request and the origin's answer.
struct Scenario {
  cache::Policy policy;
  std::string method = "GET";
  Headers request;
  bool has_stored = false;
  Headers stored_headers;
  bool usable_on_error = false;
  cache::Seconds keep_time{0};

  cache::OriginVerdict run(const cache::OriginResult& origin) const {
    const auto request_facts = cache::request_facts(method, request);
    const auto stored_facts = cache::response_facts(200, stored_headers, policy.targeted_fields, kNow);
    const cache::StoredView stored{stored_facts, stored_headers, usable_on_error};
    const cache::OriginContext ctx{&policy, &request_facts, has_stored ? &stored : nullptr, keep_time};
    return cache::on_origin_response(ctx, origin);
  }
  cache::OriginVerdict respond(int status, const Headers& headers) const {
    const auto facts = cache::response_facts(status, headers, policy.targeted_fields, kNow);
    return run(cache::OriginResponse{facts, headers});
  }
  cache::OriginVerdict fail(cache::OriginFailure f) const { return run(f); }
};

Scenario with_stored(const Pairs& stored, bool usable_on_error = false) {
  Scenario s;
  s.has_stored = true;
  s.stored_headers = make_headers(stored);
  s.usable_on_error = usable_on_error;
  return s;
}

}  // namespace

TEST_CASE("origin verdict: a 304 to our validators freshens the stored fields (RFC 9111 4.3.3, 4.3.4)") {
  auto s = with_stored({{"Date", kDate},
                        {"ETag", "\"v1\""},
                        {"Cache-Control", "max-age=10"},
                        {"Content-Type", "text/plain"},
                        {"X-Old", "kept"}});
  auto v = s.respond(304, make_headers({{"Date", kDate},
                                        {"Cache-Control", "max-age=60"},
                                        {"Content-Type", "text/html"},
                                        {"Set-Cookie", "a=b"}}));
  auto* revalidated = std::get_if<cache::Revalidated>(&v);
  REQUIRE(revalidated);
  CHECK(revalidated->fields.get("Cache-Control") == "max-age=60");
  CHECK(revalidated->fields.get("Content-Type") == "text/plain");  // body-describing: stored value kept
  CHECK(revalidated->fields.get("X-Old") == "kept");
  CHECK_FALSE(revalidated->fields.contains("Set-Cookie"));  // never stored (SetCookiePolicy::Pass)
}

TEST_CASE("origin verdict: a 304 without stored validators is not a revalidation (RFC 9111 4.3.1, 3)") {
  auto s = with_stored({{"Date", kDate}, {"Cache-Control", "max-age=10"}});
  auto v = s.respond(304, make_headers({{"Date", kDate}}));
  auto* pass = std::get_if<cache::PassThrough>(&v);
  REQUIRE(pass);
  CHECK(pass->refused == cache::StoreDecision::NotCacheableStatus);
  CHECK(pass->stored == cache::StoredUpdate::Remove);
}

TEST_CASE("origin verdict: stale-if-error serves the stored response (RFC 5861 4)") {
  const auto s = with_stored({{"Date", kDate}, {"Cache-Control", "max-age=10"}}, true);
  for (int status : {500, 502, 503, 504}) {
    CAPTURE(status);
    auto v = s.respond(status, make_headers({{"Date", kDate}}));
    auto* stale = std::get_if<cache::StaleOnError>(&v);
    REQUIRE(stale);
    CHECK(stale->origin_status == status);
  }
  auto unreachable = s.fail(OriginFailure::Failed);
  REQUIRE(std::holds_alternative<cache::StaleOnError>(unreachable));
  CHECK_FALSE(std::get<cache::StaleOnError>(unreachable).origin_status);
  // A 501 or 404 is an answer, not a failure.
  CHECK_FALSE(std::holds_alternative<cache::StaleOnError>(s.respond(501, make_headers({{"Date", kDate}}))));
  // A client that left gets nothing at all.
  CHECK(std::holds_alternative<cache::OriginFailed>(s.fail(OriginFailure::ClientGone)));
}

TEST_CASE("origin verdict: the status for a failed origin (RFC 9111 5.2.2.2, RFC 9110 15.6.3, 15.6.5)") {
  struct Row {
    Pairs stored;
    OriginFailure error;
    int status;
  };
  const std::vector<Row> rows = {
      {{}, OriginFailure::Failed, 502},
      {{}, OriginFailure::Failed, 502},
      {{}, OriginFailure::Timeout, 504},
      {{}, OriginFailure::Timeout, 504},
      {{}, OriginFailure::Timeout, 504},
      {{}, OriginFailure::Overloaded, 503},
      {{{"Cache-Control", "max-age=1, must-revalidate"}}, OriginFailure::Failed, 504},
      {{{"Cache-Control", "max-age=1, proxy-revalidate"}}, OriginFailure::Overloaded, 504},
      {{{"Cache-Control", "s-maxage=1"}}, OriginFailure::Failed, 504},
      {{{"Cache-Control", "no-cache"}}, OriginFailure::Failed, 504},
      {{{"Cache-Control", "max-age=1"}}, OriginFailure::Failed, 502},
  };
  for (const auto& row : rows) {
    auto s = row.stored.empty() ? Scenario{} : with_stored(row.stored);
    auto v = s.fail(row.error);
    REQUIRE(std::holds_alternative<cache::OriginFailed>(v));
    CHECK(std::get<cache::OriginFailed>(v).status == row.status);
  }
}

TEST_CASE(
    "origin verdict: CDN-Cache-Control decides whether stale is forbidden (RFC 9213 2.2, RFC 9111 4.2.4)") {
  // The targeted field says must-revalidate, Cache-Control does not.
  auto s = with_stored(
      {{"Date", kDate}, {"Cache-Control", "max-age=1"}, {"CDN-Cache-Control", "max-age=1, must-revalidate"}});
  auto v = s.fail(OriginFailure::Failed);
  REQUIRE(std::holds_alternative<cache::OriginFailed>(v));
  CHECK(std::get<cache::OriginFailed>(v).status == 504);
  // And the other way round: Cache-Control's must-revalidate is replaced.
  auto t = with_stored(
      {{"Date", kDate}, {"Cache-Control", "max-age=1, must-revalidate"}, {"CDN-Cache-Control", "max-age=1"}});
  CHECK(std::get<cache::OriginFailed>(t.fail(OriginFailure::Failed)).status == 502);
}

TEST_CASE(
    "origin verdict: Store keeps fresh + the longer stale window + keep_time (RFC 9111 4.2.1, RFC 5861)") {
  struct Row {
    std::string cache_control;
    cache::Seconds default_swr, default_sie, keep_time;
    cache::Seconds keep_for, ttl;
  };
  const std::vector<Row> rows = {
      {"max-age=60", 0s, 0s, 0s, 60s, 60s},
      {"max-age=60", 30s, 10s, 5s, 95s, 60s},                               // the policy's windows
      {"max-age=60, stale-while-revalidate=100", 30s, 10s, 0s, 160s, 60s},  // the response's own
      {"max-age=60, stale-if-error=300", 30s, 0s, 0s, 360s, 60s},
      {"s-maxage=20, max-age=60, stale-if-error=0", 0s, 50s, 7s, 27s, 20s},  // an explicit 0 wins
  };
  for (const auto& row : rows) {
    CAPTURE(row.cache_control);
    Scenario s;
    s.policy.stale_while_revalidate = row.default_swr;
    s.policy.stale_if_error = row.default_sie;
    s.keep_time = row.keep_time;
    auto v = s.respond(200, make_headers({{"Date", kDate}, {"Cache-Control", row.cache_control}}));
    auto* store = std::get_if<cache::Store>(&v);
    REQUIRE(store);
    CHECK(store->keep_for == row.keep_for);
    CHECK(store->ttl == row.ttl);
  }
}

TEST_CASE("origin verdict: the keep time saturates instead of wrapping (RFC 9111 1.2.2)") {
  Scenario s;
  s.keep_time = cache::Seconds::max();
  auto v = s.respond(200, make_headers({{"Date", kDate}, {"Cache-Control", "max-age=2147483648"}}));
  REQUIRE(std::holds_alternative<cache::Store>(v));
  CHECK(std::get<cache::Store>(v).keep_for > 0s);
}

TEST_CASE("origin verdict: too large to keep is shared only (RFC 9111 3)") {
  Scenario s;
  s.policy.max_object_size = 10;
  auto v = s.respond(
      200, make_headers({{"Date", kDate}, {"Cache-Control", "max-age=60"}, {"Content-Length", "11"}}));
  auto* share = std::get_if<cache::ShareOnly>(&v);
  REQUIRE(share);
  CHECK(share->ttl == 60s);
  CHECK_FALSE(share->drop_stored);
  auto t = with_stored({{"Date", kDate}, {"Cache-Control", "max-age=1"}});
  t.policy.max_object_size = 10;
  auto w = t.respond(
      200, make_headers({{"Date", kDate}, {"Cache-Control", "max-age=60"}, {"Content-Length", "11"}}));
  REQUIRE(std::holds_alternative<cache::ShareOnly>(w));
  CHECK(std::get<cache::ShareOnly>(w).drop_stored);
}

TEST_CASE("origin verdict: a response that may not be stored passes through (RFC 9111 3, 5.2.2.5)") {
  struct Row {
    int status;
    Pairs headers;
    bool has_stored;
    cache::StoreDecision refused;
    cache::StoredUpdate stored;
  };
  const std::vector<Row> rows = {
      {200, {{"Cache-Control", "no-store"}}, false, cache::StoreDecision::NoStore, cache::StoredUpdate::Keep},
      {200,
       {{"Cache-Control", "no-store"}},
       true,
       cache::StoreDecision::NoStore,
       cache::StoredUpdate::Remove},
      {200, {{"Cache-Control", "private"}}, true, cache::StoreDecision::Private, cache::StoredUpdate::Remove},
      // An error keeps the stored response for a later stale-if-error.
      {503, {}, true, cache::StoreDecision::NotCacheableStatus, cache::StoredUpdate::Keep},
  };
  for (const auto& row : rows) {
    CAPTURE(row.status);
    auto s = row.has_stored ? with_stored({{"Date", kDate}, {"Cache-Control", "max-age=1"}}) : Scenario{};
    auto headers = make_headers(row.headers);
    headers.add("Date", kDate);
    auto v = s.respond(row.status, headers);
    auto* pass = std::get_if<cache::PassThrough>(&v);
    REQUIRE(pass);
    CHECK(pass->refused == row.refused);
    CHECK(pass->stored == row.stored);
  }
}

TEST_CASE("origin verdict: HEAD never stores; a matching HEAD freshens, another removes (RFC 9111 4.3.5)") {
  struct Row {
    Pairs stored;
    Pairs head;
    int status;
    cache::StoredUpdate update;
  };
  const std::vector<Row> rows = {
      {{{"ETag", "\"a\""}}, {{"ETag", "\"a\""}, {"X-New", "1"}}, 200, cache::StoredUpdate::Freshen},
      {{{"ETag", "\"a\""}}, {{"ETag", "\"b\""}}, 200, cache::StoredUpdate::Remove},
      {{{"Last-Modified", kDate}}, {{"Last-Modified", kDate}}, 200, cache::StoredUpdate::Freshen},
      {{{"Content-Length", "5"}}, {{"Content-Length", "5"}}, 200, cache::StoredUpdate::Freshen},
      {{{"Content-Length", "5"}}, {{"Content-Length", "6"}}, 200, cache::StoredUpdate::Remove},
      {{{"ETag", "\"a\""}}, {{"ETag", "\"b\""}}, 404, cache::StoredUpdate::Keep},
  };
  for (const auto& row : rows) {
    auto s = with_stored(row.stored);
    s.method = "HEAD";
    auto v = s.respond(row.status, make_headers(row.head));
    auto* pass = std::get_if<cache::PassThrough>(&v);
    REQUIRE(pass);
    CHECK_FALSE(pass->refused);
    CHECK(pass->stored == row.update);
    if (row.update == cache::StoredUpdate::Freshen && row.head.size() > 1)
      CHECK(pass->fields.get("X-New") == "1");
  }
  Scenario fresh_head;
  fresh_head.method = "HEAD";
  auto v = fresh_head.respond(200, make_headers({{"Cache-Control", "max-age=60"}}));
  REQUIRE(std::holds_alternative<cache::PassThrough>(v));
  CHECK(std::get<cache::PassThrough>(v).stored == cache::StoredUpdate::Keep);
}

TEST_CASE("origin verdict: without a rule the cache stays out of it (RFC 9111 4.4)") {
  const auto request = cache::request_facts("POST", Headers{});
  const Headers headers = make_headers({{"Cache-Control", "max-age=60"}});
  const auto facts = cache::response_facts(200, headers, {}, kNow);
  const cache::OriginContext ctx{nullptr, &request, nullptr, 0s};
  auto v = cache::on_origin_response(ctx, cache::OriginResponse{facts, headers});
  REQUIRE(std::holds_alternative<cache::PassThrough>(v));
  CHECK_FALSE(std::get<cache::PassThrough>(v).refused);
  cache::Policy policy;
  const cache::OriginContext under_rule{&policy, &request, nullptr, 0s};
  CHECK(std::holds_alternative<cache::PassThrough>(
      cache::on_origin_response(under_rule, cache::OriginResponse{facts, headers})));
}

TEST_CASE("facts: request Pragma folds into no-cache only without Cache-Control (RFC 9111 5.4)") {
  CHECK(cache::request_facts("GET", make_headers({{"Pragma", "no-cache"}})).cc.no_cache);
  CHECK_FALSE(
      cache::request_facts("GET", make_headers({{"Pragma", "no-cache"}, {"Cache-Control", "max-age=5"}}))
          .cc.no_cache);
}

TEST_CASE("facts: a targeted field replaces Cache-Control and Expires (RFC 9213 2.2)") {
  const std::vector<std::string> targeted{"CDN-Cache-Control"};
  auto f = cache::response_facts(200,
                                 make_headers({{"Cache-Control", "max-age=5"},
                                               {"CDN-Cache-Control", "max-age=50"},
                                               {"Expires", kDate},
                                               {"ETag", "W/\"x\""},
                                               {"Age", "junk, 7"}}),
                                 targeted, kNow);
  CHECK(f.targeted);
  CHECK(f.cc.max_age == 50);
  CHECK(f.has_expires);
  CHECK(f.weak_etag);
  CHECK(f.has_validators());
  CHECK(f.age == 7);
  cache::Policy policy;
  CHECK(cache::freshness_lifetime(f, policy) == 50s);
}
