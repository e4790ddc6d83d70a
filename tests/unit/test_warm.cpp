// Cache warming's pure parts: [[warm]] loading, URL lists, sitemaps and
// how a warm request's answer is counted; refresh-ahead's settings and
// its hit-count tracker.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "config_errors.hpp"
#include "relay/config/config.hpp"
#include "relay/config/print.hpp"
#include "relay/config/schema.hpp"
#include "relay/proxy/refresh_ahead.hpp"
#include "relay/warm/url_sources.hpp"

using namespace relay;
using relay::test::config_load_error;
using relay::test::load;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("[[warm]] sources load with their defaults and every key") {
  const auto cfg = load(R"(
[[warm]]
urls = "/etc/relay/warm.txt"

[[warm]]
name = "shop"
sitemap = "https://shop.example/sitemap.xml"
every = "10m"
rate = 2.5
concurrency = 8
max_urls = 1000
variants = [ { "Accept-Encoding" = "gzip" }, { "Accept-Encoding" = "identity", "Accept-Language" = "de" } ]
)");
  REQUIRE(cfg.warm.size() == 2);
  const auto& first = cfg.warm[0];
  CHECK(first.name == "warm[1]");
  CHECK(first.urls == "/etc/relay/warm.txt");
  CHECK(first.every == std::chrono::hours(1));
  CHECK(first.rate == 10);
  CHECK(first.concurrency == 4);
  CHECK(first.max_urls == 50'000);
  CHECK(first.variants.empty());
  const auto& shop = cfg.warm[1];
  CHECK(shop.name == "shop");
  CHECK(shop.sitemap == "https://shop.example/sitemap.xml");
  CHECK(shop.every == std::chrono::minutes(10));
  CHECK(shop.rate == 2.5);
  CHECK(shop.concurrency == 8);
  CHECK(shop.max_urls == 1000);
  REQUIRE(shop.variants.size() == 2);
  CHECK(shop.variants[1].size() == 2);
  CHECK(shop.variants[1][1].first == "Accept-Language");
}

TEST_CASE("bad [[warm]] entries are refused naming the key and line") {
  struct Case {
    const char* toml;
    const char* expect;
  };
  const Case cases[] = {
      {"[[warm]]\nname = \"x\"\n", "relay.toml:1: warm[1]: needs exactly one of \"urls\""},
      {"[[warm]]\nurls = \"/a\"\nsitemap = \"http://a/s.xml\"\n", "needs exactly one of"},
      {"[[warm]]\nsitemap = \"ftp://a/s.xml\"\n", "relay.toml:2: warm[1].sitemap: expected an http:// or https:// URL"},
      {"[[warm]]\nurls = \"/a\"\nrate = 0\n", "relay.toml:3: warm[1].rate: must be a number of requests per second above 0"},
      {"[[warm]]\nurls = \"/a\"\nconcurrency = 0\n", "warm[1].concurrency: must be 1..256"},
      {"[[warm]]\nurls = \"/a\"\nevery = \"500ms\"\n", "warm[1].every: must be 0 (at start only) or at least 1s"},
      {"[[warm]]\nurls = \"/a\"\nvariants = [ { Host = \"evil\" } ]\n", "warm[1].variants: [0]: \"Host\" cannot be edited"},
      {"[[warm]]\nurls = \"/a\"\nhost = \"a/b\"\n", "warm[1].host: expected a host name"},
      {"[[warm]]\nurls = \"/a\"\nnmae = \"x\"\n", "relay.toml:3: warm[1].nmae: unknown key"},
      {"[[warm]]\nurls = \"/a\"\n[[warm]]\nurls = \"/b\"\nname = \"warm[1]\"\n", "warm[2].name: expected letters"},
      {"[[warm]]\nname = \"a\"\nurls = \"/a\"\n[[warm]]\nurls = \"/b\"\nname = \"a\"\n",
       "relay.toml:4: warm[2].name: \"a\" is already the name of another [[warm]] source"},
      {"warm = 3\n", "relay.toml:1: warm: expected an array of tables ([[warm]])"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.toml);
    const auto error = config_load_error(c.toml);
    CHECK_MESSAGE(contains(error, c.expect), error);
  }
  CHECK(contains(config_load_error("", {{"RELAY_WARM_URLS", "/a"}}), "warm can only be set in the config file"));
}

TEST_CASE("--print-config prints [[warm]] sources so that they load back the same") {
  const auto loaded = config::load_with_sources(R"(
[[warm]]
name = "top"
urls = "/srv/top.txt"
host = "www.example.com"
rate = 0.5
variants = [ { "Accept-Encoding" = "gzip" }, {} ]
)", "relay.toml", {});
  const auto printed = config::print_config(loaded);
  CHECK(contains(printed, "[[warm]]  # relay.toml:2"));
  CHECK(contains(printed, "rate = 0.5\n"));
  auto again = load(printed);
  REQUIRE(again.warm.size() == 1);
  again.warm[0].line = loaded.config.warm[0].line;  // where it is written differs
  CHECK(again.warm == loaded.config.warm);
}

TEST_CASE("[cache.refresh_ahead] is off by default and checked") {
  const auto defaults = load("");
  CHECK_FALSE(defaults.cache.refresh_ahead.enabled);
  CHECK(defaults.cache.refresh_ahead.min_hits == 10);
  CHECK(defaults.cache.refresh_ahead.at == doctest::Approx(0.8));
  const auto on = load("[cache.refresh_ahead]\nenabled = true\nmin_hits = 3\nat = 0.5\n[[cache.rules]]\npath = \"/live/*\"\nrefresh_ahead = false\n");
  CHECK(on.cache.refresh_ahead.enabled);
  CHECK(on.cache.refresh_ahead.min_hits == 3);
  REQUIRE(on.cache.rules.size() == 1);
  CHECK(on.cache.rules[0].refresh_ahead == false);
  CHECK(contains(config_load_error("[cache.refresh_ahead]\nat = 1\n"),
                 "relay.toml:2: cache.refresh_ahead.at: must be a fraction of the lifetime between 0 and 1"));
  CHECK(contains(config_load_error("[cache.refresh_ahead]\nmin_hits = 0\n"), "cache.refresh_ahead.min_hits: must be >= 1"));
  CHECK(contains(config_load_error("", {{"RELAY_CACHE_REFRESH_AHEAD_MAX_CONCURRENT", "0"}}),
                 "environment RELAY_CACHE_REFRESH_AHEAD_MAX_CONCURRENT: cache.refresh_ahead.max_concurrent: must be >= 1"));
}

TEST_CASE("a URL list: absolute URLs, paths on the host, comments; the rest rejected by line") {
  const auto list = warm::parse_url_list(
      "# top pages\n"
      "/\n"
      "  /a?b=1#frag  \r\n"
      "\n"
      "HTTPS://Shop.Example:8443?x\n"
      "ftp://files.example/a\n"
      "//evil.example/x\n"
      "relative/path\n"
      "http://user@host/x\n"
      "http://b.example/c d\n",
      "www.example", 100);
  REQUIRE(list.targets.size() == 3);
  CHECK(list.targets[0] == warm::WarmTarget{"http", "www.example", "/"});
  CHECK(list.targets[1] == warm::WarmTarget{"http", "www.example", "/a?b=1"});
  CHECK(list.targets[2] == warm::WarmTarget{"https", "shop.example:8443", "/?x"});
  REQUIRE(list.rejected.size() == 5);
  CHECK(list.rejected[0].starts_with("line 6: "));
  CHECK(list.rejected[4].starts_with("line 10: "));
  CHECK_FALSE(list.truncated);
  const auto capped = warm::parse_url_list("/1\n/2\n/3\n", "h", 2);
  CHECK(capped.targets.size() == 2);
  CHECK(capped.truncated);
  // Paths need the host clients use.
  warm::WarmTarget target;
  CHECK_FALSE(warm::parse_target("/x", "", target));
  const auto hostless = warm::parse_url_list("/x\nhttp://a.example/y\n", "", 10);
  REQUIRE(hostless.targets.size() == 1);
  REQUIRE(hostless.rejected.size() == 1);
  CHECK(hostless.rejected[0].starts_with("line 1: a path needs [[warm]] host"));
}

TEST_CASE("a sitemap's page locs, entities decoded, extensions' locs and comments skipped") {
  const auto map = warm::parse_sitemap(R"(<?xml version="1.0" encoding="UTF-8"?>
<!-- <url><loc>http://commented.example/</loc></url> -->
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc> https://www.example.com/a?x=1&amp;y=2 </loc>
    <lastmod>2026-01-01</lastmod>
    <image:image><image:loc>https://www.example.com/a.jpg</image:loc></image:image>
  </url>
  <url><loc><![CDATA[https://www.example.com/b?q=<1>]]></loc></url>
  <url><loc>https://www.example.com/caf&#xE9;&#47;</loc></url>
  <url><loc>https://www.example.com/&bogus;</loc></url>
</urlset>)");
  CHECK_FALSE(map.index);
  REQUIRE(map.locs.size() == 4);
  CHECK(map.locs[0] == "https://www.example.com/a?x=1&y=2");
  CHECK(map.locs[1] == "https://www.example.com/b?q=<1>");
  CHECK(map.locs[2] == "https://www.example.com/caf\xc3\xa9/");
  CHECK(map.locs[3] == "https://www.example.com/&bogus;");
}

TEST_CASE("a sitemap index lists sitemaps; broken XML yields what could be read") {
  const auto index = warm::parse_sitemap(
      "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
      "<sitemap><loc>https://a.example/s1.xml</loc></sitemap>"
      "<sitemap><loc>https://a.example/s2.xml</loc><lastmod>2026-01-01</lastmod></sitemap>"
      "</sitemapindex>");
  CHECK(index.index);
  CHECK(index.locs == std::vector<std::string>{"https://a.example/s1.xml", "https://a.example/s2.xml"});
  const auto broken = warm::parse_sitemap("<urlset><url><loc>https://a.example/1</loc></url><url><loc>https://a.exa");
  CHECK_FALSE(broken.index);
  CHECK(broken.locs == std::vector<std::string>{"https://a.example/1"});
  CHECK(warm::parse_sitemap("").locs.empty());
  CHECK(warm::parse_sitemap("not xml at all").locs.empty());
}

TEST_CASE("a warm request's result: hit, filled, not stored or failed") {
  CHECK(warm::warm_result(200, "HIT", "relay; hit; ttl=50") == "hit");
  CHECK(warm::warm_result(200, "STALE", "relay; hit; ttl=-1") == "hit");
  CHECK(warm::warm_result(200, "MISS", "relay; fwd=uri-miss; fwd-status=200; stored; ttl=60") == "filled");
  CHECK(warm::warm_result(200, "EXPIRED", "relay; fwd=stale; fwd-status=200; stored") == "filled");
  CHECK(warm::warm_result(200, "REVALIDATED", "relay; fwd=stale; fwd-status=304") == "filled");
  CHECK(warm::warm_result(200, "COALESCED", "relay; fwd=uri-miss; collapsed") == "filled");
  CHECK(warm::warm_result(200, "MISS", "relay; fwd=uri-miss; fwd-status=200; detail=too-large") == "not_stored");
  // Only relay's own member (the last) counts.
  CHECK(warm::warm_result(200, "BYPASS", "edge; fwd=uri-miss; stored, relay; fwd=bypass") == "not_stored");
  CHECK(warm::warm_result(404, "MISS", "relay; fwd=uri-miss; stored") == "failed");
  CHECK(warm::warm_result(502, "MISS", "relay; fwd=uri-miss") == "failed");
  CHECK(warm::warm_result(0, "", "") == "failed");
}

TEST_CASE("refresh-ahead: a popular response is refreshed once, past `at` of its lifetime") {
  using Clock = proxy::RefreshAhead::Clock;
  using std::chrono::seconds;
  using Decision = proxy::RefreshAhead::Decision;
  proxy::RefreshAhead tracker;
  const proxy::RefreshAhead::Settings settings{3, 0.5, 1, 100};
  const auto stored = Clock::time_point(seconds(1'000'000));
  const auto at = [&](int age) { return stored + seconds(age); };
  // Hits before half its lifetime count but start nothing.
  for (int i = 0; i < 5; ++i) CHECK(tracker.on_fresh_hit("k", stored, seconds(1), seconds(10), settings, at(1)) == Decision::None);
  CHECK(tracker.on_fresh_hit("k", stored, seconds(5), seconds(10), settings, at(5)) == Decision::Refresh);
  // Once per lifetime.
  CHECK(tracker.on_fresh_hit("k", stored, seconds(6), seconds(10), settings, at(6)) == Decision::None);
  // A cold response (fewer than min_hits) is never refreshed.
  CHECK(tracker.on_fresh_hit("cold", stored, seconds(8), seconds(10), settings, at(8)) == Decision::None);
  CHECK(tracker.on_fresh_hit("cold", stored, seconds(9), seconds(10), settings, at(9)) == Decision::None);
  // max_concurrent = 1 while k's refresh runs: another popular one is busy, then may go.
  for (int i = 0; i < 2; ++i) tracker.on_fresh_hit("other", stored, seconds(1), seconds(10), settings, at(1));
  CHECK(tracker.on_fresh_hit("other", stored, seconds(6), seconds(10), settings, at(6)) == Decision::Busy);
  tracker.finished();
  CHECK(tracker.running() == 0);
  CHECK(tracker.on_fresh_hit("other", stored, seconds(7), seconds(10), settings, at(7)) == Decision::Refresh);
  tracker.finished();
  // The refreshed response is a new lifetime: counted from zero again.
  const auto fresh = at(6);
  CHECK(tracker.on_fresh_hit("k", fresh, seconds(6), seconds(10), settings, at(12)) == Decision::None);
  CHECK(tracker.on_fresh_hit("k", fresh, seconds(6), seconds(10), settings, at(12)) == Decision::None);
  CHECK(tracker.on_fresh_hit("k", fresh, seconds(6), seconds(10), settings, at(12)) == Decision::Refresh);
  // Another fill of the key ran instead: a later hit may start it.
  tracker.not_started("k");
  CHECK(tracker.on_fresh_hit("k", fresh, seconds(7), seconds(10), settings, at(13)) == Decision::Refresh);
  tracker.finished();
}

TEST_CASE("refresh-ahead tracks at most max_tracked responses, dropping expired ones for room") {
  using Clock = proxy::RefreshAhead::Clock;
  using std::chrono::seconds;
  proxy::RefreshAhead tracker;
  const proxy::RefreshAhead::Settings settings{1, 0.5, 8, 64};
  const auto now = Clock::time_point(seconds(1'000'000));
  for (int i = 0; i < 200; ++i) tracker.on_fresh_hit("key" + std::to_string(i), now, seconds(0), seconds(10), settings, now);
  CHECK(tracker.tracked() <= 64);
  CHECK(tracker.tracked() >= 60);
  // Ten seconds on, all of them have expired: new ones take their place.
  const auto later = now + seconds(11);
  for (int i = 0; i < 200; ++i)
    tracker.on_fresh_hit("new" + std::to_string(i), later, seconds(0), seconds(10), settings, later);
  CHECK(tracker.tracked() <= 64);
  CHECK(tracker.on_fresh_hit("new0", later, seconds(6), seconds(10), settings, later + seconds(6)) ==
        proxy::RefreshAhead::Decision::Refresh);
  tracker.finished();
}
