// Purge selectors and orders: operator input normalised as a request would
// be, so a purge names exactly the entries that request used; tags read
// from Surrogate-Key / Cache-Tag; a soft purge's stale mark in the verdict.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "header_pairs.hpp"
#include "relay/cache/facts.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/policy.hpp"
#include "relay/cache/target.hpp"
#include "relay/purge/order.hpp"
#include "relay/purge/selector.hpp"
#include "relay/purge/tags.hpp"

using namespace std::chrono_literals;
using relay::storage::PurgeMode;
using relay::storage::PurgeSelector;
using SelectorKind = relay::storage::PurgeSelector::Kind;

namespace {

// The primary key a GET for `target` with `host` (and `extra` headers) gets.
std::string request_key(const std::string& target, const std::string& host, const relay::config::CacheConfig& cache,
                        relay::http::Headers extra = {}) {
  extra.add("Host", host);
  auto normalized = relay::cache::normalize_target(target, extra);
  REQUIRE(normalized.ok);
  auto rule = relay::cache::resolve_rule(cache, normalized.target.path);
  return relay::cache::make_key(normalized.target, extra, rule.key).primary;
}

}  // namespace

TEST_CASE("a URL selector matches the key the same request was stored under") {
  relay::config::Config cfg;
  auto& cache = cfg.cache;
  cache.key.ignore_params = {"utm_*"};
  auto selected = relay::purge::url_selector("HTTP://WWW.Example.com:80/a/./b/%7euser?z=1&a=2&utm_source=x", cfg);
  REQUIRE(selected.ok);
  CHECK(selected.selector.kind == SelectorKind::url);
  const auto stored = request_key("/a/b/~user?a=2&z=1", "www.example.com", cache);
  CHECK(selected.selector.matches(stored, {}));
  // Another path, another host, a longer path: not this URL.
  CHECK_FALSE(selected.selector.matches(request_key("/a/b/~user2?a=2&z=1", "www.example.com", cache), {}));
  CHECK_FALSE(selected.selector.matches(request_key("/a/b/~user?a=2&z=1", "other.example.com", cache), {}));
}

TEST_CASE("a URL selector covers every value of a keyed request header") {
  relay::config::Config cfg;
  auto& cache = cfg.cache;
  cache.key.headers = {"X-Device"};
  auto selected = relay::purge::url_selector("http://h.example/p", cfg);
  REQUIRE(selected.ok);
  relay::http::Headers mobile;
  mobile.add("X-Device", "mobile");
  CHECK(selected.selector.matches(request_key("/p", "h.example", cache, mobile), {}));
  CHECK(selected.selector.matches(request_key("/p", "h.example", cache), {}));
  CHECK_FALSE(selected.selector.matches(request_key("/p2", "h.example", cache, mobile), {}));
}

TEST_CASE("prefix and glob selectors") {
  relay::config::Config cfg;
  auto& cache = cfg.cache;
  auto prefix = relay::purge::prefix_selector("http://h.example/static/", cfg);
  REQUIRE(prefix.ok);
  CHECK(prefix.selector.matches(request_key("/static/a.css", "h.example", cache), {}));
  CHECK(prefix.selector.matches(request_key("/static//b/c.js?v=1", "h.example", cache), {}));
  CHECK_FALSE(prefix.selector.matches(request_key("/staticx", "h.example", cache), {}));
  CHECK_FALSE(prefix.selector.matches(request_key("/static/a.css", "g.example", cache), {}));

  auto glob = relay::purge::glob_selector("http://*.Example.com/img/*.png", cfg);
  REQUIRE(glob.ok);
  CHECK(glob.selector.value == "http://*.example.com/img/*.png");
  CHECK(glob.selector.matches(request_key("/img/a/b.png", "cdn.example.com", cache), {}));
  CHECK_FALSE(glob.selector.matches(request_key("/img/a.jpg", "cdn.example.com", cache), {}));
}

TEST_CASE("selectors refuse what cannot name cached URLs") {
  relay::config::Config cfg;
  CHECK_FALSE(relay::purge::url_selector("/relative/path", cfg).ok);
  CHECK_FALSE(relay::purge::url_selector("ftp://h/x", cfg).ok);
  CHECK_FALSE(relay::purge::url_selector("http:///nohost", cfg).ok);
  CHECK_FALSE(relay::purge::tag_selector("").ok);
  CHECK_FALSE(relay::purge::tag_selector("two words").ok);
  CHECK_FALSE(relay::purge::tag_selector("a,b").ok);
  CHECK(relay::purge::tag_selector("product-42").ok);
}

TEST_CASE("tags come from Surrogate-Key (spaces) and Cache-Tag (commas), each once") {
  relay::http::Headers response;
  response.add("Surrogate-Key", "  a  b\tc ");
  response.add("Cache-Tag", "c, d ,e,,");
  response.add("surrogate-key", "f");
  const std::vector<std::string> names = {"Surrogate-Key", "Cache-Tag"};
  CHECK(relay::purge::response_tags(response, names) == std::vector<std::string>{"a", "b", "c", "d", "e", "f"});
  CHECK(relay::purge::response_tags(response, {"Cache-Tag"}) == std::vector<std::string>{"c", "d", "e"});
  relay::purge::strip_tag_fields(response, names);
  CHECK(response.empty());
}

TEST_CASE("tags per response are bounded") {
  relay::http::Headers response;
  std::string many;
  for (int i = 0; i < 500; ++i) many.append(1, 't').append(std::to_string(i)).append(1, ' ');
  response.add("Surrogate-Key", many + std::string(2000, 'x'));
  auto tags = relay::purge::response_tags(response, {"Surrogate-Key"});
  CHECK(tags.size() == relay::purge::kMaxTags);
}

TEST_CASE("purge orders: one selector, an optional soft mode, clear refusals") {
  relay::config::Config cfg;
  auto url = relay::purge::parse_order(R"({"url": "http://h.example/a", "soft": true})", cfg);
  REQUIRE(url.ok);
  CHECK(url.order.selector == PurgeSelector{SelectorKind::url, "http://h.example/a"});
  CHECK(url.order.mode == PurgeMode::soft);
  auto tag = relay::purge::parse_order(R"({"tag": "product-42"})", cfg);
  REQUIRE(tag.ok);
  CHECK(tag.order.selector == PurgeSelector{SelectorKind::tag, "product-42"});
  CHECK(tag.order.mode == PurgeMode::hard);
  CHECK(relay::purge::parse_order(R"({"all": true})", cfg).order.selector.kind == SelectorKind::all);
  CHECK(relay::purge::parse_order(R"({"prefix": "http://h.example/s/"})", cfg).order.selector.kind == SelectorKind::prefix);

  CHECK(relay::purge::parse_order("not json", cfg).error.find("not JSON") != std::string::npos);
  CHECK(relay::purge::parse_order("[]", cfg).error.find("object") != std::string::npos);
  CHECK(relay::purge::parse_order("{}", cfg).error.find("name what to purge") != std::string::npos);
  CHECK(relay::purge::parse_order(R"({"url": "http://h/a", "tag": "x"})", cfg).error.find("one of") !=
        std::string::npos);
  CHECK(relay::purge::parse_order(R"({"urls": "x"})", cfg).error.find("unknown member") != std::string::npos);
  CHECK(relay::purge::parse_order(R"({"all": false})", cfg).error.find("must be true") != std::string::npos);
  CHECK(relay::purge::parse_order(R"({"url": 3})", cfg).error.find("must be a string") != std::string::npos);
  CHECK(relay::purge::parse_order(R"({"url": "/x"})", cfg).error.find("url: ") == 0);
}

TEST_CASE("a soft purge makes a fresh response stale from its moment on, windows counting from it") {
  const auto stored_at = relay::cache::SysTime{std::chrono::sys_days{std::chrono::year{2024} / 1 / 15}} + 12h;
  relay::http::Headers headers;
  headers.add("Date", "Mon, 15 Jan 2024 12:00:00 GMT");
  headers.add("Cache-Control", "max-age=3600, stale-while-revalidate=60");
  relay::cache::Policy policy;
  const auto facts = relay::cache::response_facts(200, headers, policy.targeted_fields, stored_at);
  const auto request = relay::cache::request_facts("GET", relay::http::Headers{});
  const auto now = stored_at + 100s;
  auto before = relay::cache::classify(request, {facts, stored_at, stored_at}, policy, now);
  CHECK(before.verdict == relay::cache::Verdict::Fresh);
  // Purged at +90 s: at +100 s it is 10 s stale, within the 60 s window.
  auto purged = relay::cache::classify(request, {facts, stored_at, stored_at, stored_at + 90s}, policy, now);
  CHECK(purged.verdict == relay::cache::Verdict::StaleWhileRevalidate);
  // At +200 s the window has passed: validate first.
  auto later = relay::cache::classify(request, {facts, stored_at, stored_at, stored_at + 90s}, policy,
                                      stored_at + 200s);
  CHECK(later.verdict == relay::cache::Verdict::MustValidate);
}
