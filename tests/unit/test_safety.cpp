// The shared-cache safety rules in pure form: one normalised target feeds
// rules, key and forwarded request; Set-Cookie and Cookie never let one
// user's response reach another without explicit permission; unkeyed
// request fields that change responses are removed before forwarding.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "fixed_clock.hpp"
#include "header_pairs.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/policy.hpp"
#include "relay/cache/target.hpp"

using relay::cache::forwarded_target;
using relay::cache::normalize_target;
using relay::cache::Policy;
using relay::cache::Seconds;
using relay::cache::SetCookiePolicy;
using relay::cache::StoreDecision;
using relay::config::CacheKeyConfig;
using relay::http::Headers;

namespace {

using relay::test::kDate;
using relay::test::make_headers;
constexpr const char* kLastModified = relay::test::kLm5d;

StoreDecision decide(const Headers& request, const Headers& response, const Policy& policy = {}) {
  return relay::cache::may_store("GET", request, 200, response, policy);
}

}  // namespace

TEST_CASE("target: the absolute-form authority replaces Host (RFC 9112 3.2.2)") {
  auto r = normalize_target("http://Shop.Test:80/p?a=1", make_headers({{"Host", "evil"}}));
  REQUIRE(r.ok);
  CHECK(r.target.authority == "shop.test");
  CHECK(forwarded_target(r.target, {}) == "/p?a=1");
}

TEST_CASE("target: an absolute-form port that is not digits is refused, not read as a path (found by fuzz_target_key)") {
  // Boost.URL 1.81 reads "u:p;h:221/k" as host "u", empty port, path
  // "p;h:221/k": rules would match one path and the origin receive another.
  for (const char* target : {"https://u:p;h:221/k;q?r*", "http://a.test:x/p", "http://a.test:80x/p"}) {
    auto r = normalize_target(target, make_headers({{"Host", "host"}}));
    CHECK_MESSAGE(!r.ok, target);
  }
  // Characters no URI may hold are refused before Boost.URL parses the
  // target (1.81 asserts on "https:|"; found by fuzz_target_key).
  for (const char* target : {"https:|", "is:[", "/a|b", "/a b", "/\x7f", "http://a.test/\"", "/<x>", "ftp://a.test/p",
                             "urn:a", "http:/a.test/p"}) {
    CHECK_MESSAGE(!normalize_target(target, make_headers({{"Host", "a.test"}})).ok, target);
  }
  auto fine = normalize_target("http://a.test:/p", make_headers({}));  // an empty port is allowed (RFC 3986)
  REQUIRE(fine.ok);
  CHECK(fine.target.authority == "a.test");
  CHECK(forwarded_target(fine.target, {}) == "/p");
}

TEST_CASE("target: Host must be one valid uri-host[:port] (RFC 9112 3.2)") {
  const std::vector<Headers> refused = {
      make_headers({{"Host", "a.test"}, {"Host", "b.test"}}),
      make_headers({{"Host", "a.test"}, {"host", "a.test"}}),
      make_headers({{"Host", "evil/x"}}),
      make_headers({{"Host", "user@a.test"}}),
      make_headers({{"Host", "a.test:99999"}}),
      make_headers({}),
  };
  for (const auto& headers : refused) {
    auto r = normalize_target("/p", headers);
    CHECK_FALSE(r.ok);
    CHECK_FALSE(r.error.empty());
  }
  // Even when an absolute-form target makes Host irrelevant to the key.
  CHECK_FALSE(normalize_target("http://a.test/p", make_headers({{"Host", "a.test"}, {"Host", "b"}})).ok);
  CHECK_FALSE(normalize_target("http://a.test/p", make_headers({{"Host", "bad host"}})).ok);
  CHECK(normalize_target("http://a.test/p", make_headers({})).ok);
}

TEST_CASE("target: what is forwarded is what is keyed and matched") {
  struct Row {
    const char* received;
    const char* path;       // what [[cache.rules]] match
    const char* forwarded;  // what the origin receives
  };
  const Row rows[] = {
      {"/static/../page?v=1", "/page", "/page?v=1"},
      {"/x/../api/me", "/api/me", "/api/me"},
      {"/x/%2e%2E/api/me", "/api/me", "/api/me"},
      {"//api//me", "/api/me", "/api/me"},
      {"/%7Euser/%41", "/~user/A", "/~user/A"},
      {"/a%2fb", "/a%2Fb", "/a%2Fb"},
      {"/p#frag", "/p", "/p"},
      {"/p?x=1#frag", "/p", "/p?x=1"},
      {"/landing?utm_content=%3Cscript%3E&id=2&fbclid=9", "/landing", "/landing?id=2"},
      {"/p?b=2&a=1&utm%5Fx=1", "/p", "/p?b=2&a=1"},  // received order kept, encoded names caught
      {"/p?a=%7e&&b", "/p", "/p?a=~&b"},
  };
  for (const auto& row : rows) {
    const std::string received = row.received;
    CAPTURE(received);
    auto r = normalize_target(row.received, make_headers({{"Host", "shop.test"}}));
    REQUIRE(r.ok);
    CHECK(r.target.path == row.path);
    CHECK(forwarded_target(r.target, CacheKeyConfig{}) == row.forwarded);
    // Re-normalising the forwarded target changes nothing: one meaning.
    auto again = normalize_target(forwarded_target(r.target, {}), make_headers({{"Host", "shop.test"}}));
    REQUIRE(again.ok);
    CHECK(make_key(again.target, {}, {}) == make_key(r.target, {}, {}));
  }
}

TEST_CASE("target: a rule's ignore_params decides what is forwarded too") {
  CacheKeyConfig cfg;
  cfg.ignore_params = {"session*"};
  auto r = normalize_target("/p?sessionid=1&utm_source=x", make_headers({{"Host", "a"}}));
  REQUIRE(r.ok);
  CHECK(forwarded_target(r.target, cfg) == "/p?utm_source=x");
  CHECK(make_key(r.target, {}, cfg).primary == "http://a/p?utm_source=x");
}

TEST_CASE("safety: Set-Cookie is not stored by default (pass)") {
  const auto response = make_headers({{"Date", kDate}, {"Cache-Control", "max-age=60"}, {"Set-Cookie", "s=1"}});
  CHECK(decide({}, response) == StoreDecision::SetCookie);
  const auto heuristic = make_headers({{"Date", kDate}, {"Last-Modified", kLastModified}, {"Set-Cookie", "s=1"}});
  CHECK(decide({}, heuristic) == StoreDecision::SetCookie);
}

TEST_CASE("safety: set_cookie = strip stores the response without its Set-Cookie") {
  Policy strip;
  strip.set_cookie = SetCookiePolicy::Strip;
  const auto response = make_headers(
      {{"Date", kDate}, {"Last-Modified", kLastModified}, {"Set-Cookie", "s=1"}, {"set-cookie2", "t=2"}});
  CHECK(decide({}, response, strip) == StoreDecision::Store);
  auto stored = relay::cache::storable_fields(response, strip);
  CHECK_FALSE(stored.contains("Set-Cookie"));
  CHECK_FALSE(stored.contains("Set-Cookie2"));
  CHECK(stored.contains("Last-Modified"));
  // The default policy strips them from anything shared too.
  CHECK_FALSE(relay::cache::storable_fields(response, Policy{}).contains("Set-Cookie"));
}

TEST_CASE("safety: set_cookie = store needs explicit freshness, never heuristic (RFC 9111 4.2.2)") {
  Policy store;
  store.set_cookie = SetCookiePolicy::Store;
  const auto explicit_fresh = make_headers({{"Date", kDate}, {"Cache-Control", "max-age=60"}, {"Set-Cookie", "s=1"}});
  CHECK(decide({}, explicit_fresh, store) == StoreDecision::Store);
  CHECK(relay::cache::storable_fields(explicit_fresh, store).contains("Set-Cookie"));
  const auto heuristic = make_headers({{"Date", kDate}, {"Last-Modified", kLastModified}, {"Set-Cookie", "s=1"}});
  CHECK(decide({}, heuristic, store) == StoreDecision::SetCookie);
  const auto public_heuristic = make_headers(
      {{"Date", kDate}, {"Last-Modified", kLastModified}, {"Cache-Control", "public"}, {"Set-Cookie", "s=1"}});
  CHECK(decide({}, public_heuristic, store) == StoreDecision::SetCookie);
  store.default_ttl = Seconds{60};
  CHECK(decide({}, make_headers({{"Set-Cookie", "s=1"}}), store) == StoreDecision::SetCookie);
  store.ttl_override = Seconds{60};  // the operator said so for this path
  CHECK(decide({}, make_headers({{"Set-Cookie", "s=1"}}), store) == StoreDecision::Store);
}

TEST_CASE("safety: no heuristic or default lifetime for responses to requests with Cookie") {
  const auto cookie = make_headers({{"Cookie", "session=1"}});
  const auto heuristic = make_headers({{"Date", kDate}, {"Last-Modified", kLastModified}});
  CHECK(decide({}, heuristic) == StoreDecision::Store);
  CHECK(decide(cookie, heuristic) == StoreDecision::Cookie);
  Policy with_default;
  with_default.default_ttl = Seconds{60};
  CHECK(decide(cookie, make_headers({{"Date", kDate}}), with_default) == StoreDecision::Cookie);
  // The origin's explicit word still counts.
  for (const char* cc : {"max-age=60", "s-maxage=60", "public"}) {
    CAPTURE(cc);
    auto response = heuristic;
    response.add("Cache-Control", cc);
    CHECK(decide(cookie, response) == StoreDecision::Store);
  }
  auto expires = make_headers({{"Date", kDate}, {"Expires", "Mon, 15 Jan 2024 13:00:00 GMT"}});
  CHECK(decide(cookie, expires) == StoreDecision::Store);
}

TEST_CASE("safety: unkeyed fields that change responses are stripped, keyed ones kept") {
  relay::config::CacheConfig cfg;
  auto rule = relay::cache::resolve_rule(cfg, "/page");
  auto request = make_headers({{"X-Original-URL", "/admin"},
                               {"x-rewrite-url", "/admin"},
                               {"X-HTTP-Method-Override", "DELETE"},
                               {"X-Forwarded-Host", "evil"},
                               {"Accept", "*/*"}});
  auto stripped = request;
  relay::cache::strip_request_headers(stripped, rule);
  CHECK(stripped.size() == 1);
  CHECK(stripped.contains("Accept"));

  rule.key.headers = {"X-Forwarded-Host"};  // keyed: the origin may see it
  auto keyed = request;
  relay::cache::strip_request_headers(keyed, rule);
  CHECK(keyed.get("X-Forwarded-Host") == "evil");
  CHECK_FALSE(keyed.contains("X-Original-URL"));
}

TEST_CASE("safety: rules override set_cookie and strip_request_headers") {
  relay::config::CacheConfig cfg;
  relay::config::CacheRule rule;
  rule.path = "/assets/*";
  rule.set_cookie = relay::config::SetCookie::Strip;
  rule.strip_request_headers = std::vector<std::string>{"X-Debug"};
  cfg.rules.push_back(rule);
  auto assets = relay::cache::resolve_rule(cfg, "/assets/a.css");
  CHECK(assets.policy.set_cookie == SetCookiePolicy::Strip);
  CHECK(assets.strip_request_headers == std::vector<std::string>{"X-Debug"});
  auto other = relay::cache::resolve_rule(cfg, "/page");
  CHECK(other.policy.set_cookie == SetCookiePolicy::Pass);
  CHECK(other.strip_request_headers.size() == 4);
}
