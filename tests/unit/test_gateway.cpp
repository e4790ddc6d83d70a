// [[origins]] / [[routes]] loading, route matching, member choice and
// health bookkeeping, header edits: the gateway's pure parts.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "config_errors.hpp"
#include "relay/config/config.hpp"
#include "relay/config/print.hpp"
#include "relay/config/reload.hpp"
#include "relay/config/schema.hpp"
#include "relay/gateway/forwarded.hpp"
#include "relay/gateway/header_edits.hpp"
#include "relay/gateway/origin_pool.hpp"
#include "relay/gateway/route_table.hpp"

using namespace relay;

namespace {

using relay::test::config_load_error;

using relay::test::load;


// The issue's acceptance config, as written.
const char* kGatewayAcceptance = R"(
[[origins]]
name = "app"
members = [ { url = "http://127.0.0.1:9001", priority = 1 },
            { url = "http://127.0.0.1:9002", priority = 2 } ]
health_check = { path = "/health", interval = "500ms", timeout = "300ms", rise = 1, fall = 1 }

[[routes]]
path = "/limited/*"
origin = "app"
max_body_size = "1KiB"

[[routes]]
path = "/*"
origin = "app"
response_headers = { set = { "X-Content-Type-Options" = "nosniff" } }
)";

}  // namespace

TEST_CASE("gateway config: no [[origins]] means one default pool from [upstream] and a catch-all route") {
  auto cfg = load("[upstream]\nurl = \"http://127.0.0.1:7000/base\"\nconnect_timeout = \"2s\"\n");
  REQUIRE(cfg.origins.size() == 1);
  CHECK(cfg.origins[0].name == "default");
  CHECK(cfg.origins[0].members.at(0).url == "http://127.0.0.1:7000/base");
  CHECK(cfg.origins[0].connect_timeout == std::chrono::seconds(2));
  REQUIRE(cfg.routes.size() == 1);
  CHECK(cfg.routes[0].origin == "default");
  CHECK(cfg.routes[0].path == "/*");
}

TEST_CASE("gateway config: the acceptance config loads as written") {
  auto cfg = load(kGatewayAcceptance);
  REQUIRE(cfg.origins.size() == 1);  // upstream.url not set: no default pool
  const auto& app = cfg.origins[0];
  CHECK(app.name == "app");
  REQUIRE(app.members.size() == 2);
  CHECK(app.members[1].priority == 2);
  CHECK(app.health_check.path == "/health");
  CHECK(app.health_check.interval == std::chrono::milliseconds(500));
  CHECK(app.health_check.rise == 1);
  REQUIRE(cfg.routes.size() == 2);  // no fallback: every request is routed by the file
  CHECK(cfg.routes[0].max_body_size == 1024);
  REQUIRE(cfg.routes[1].response_headers.set.size() == 1);
  CHECK(cfg.routes[1].response_headers.set[0].first == "X-Content-Type-Options");
}

TEST_CASE("gateway config: pools take [upstream]'s timeouts unless they set their own") {
  auto cfg = load(R"(
[upstream]
first_byte_timeout = "7s"
[[origins]]
name = "a"
members = ["http://127.0.0.1:1"]
idle_timeout = "3s"
)");
  CHECK(cfg.origins[0].first_byte_timeout == std::chrono::seconds(7));
  CHECK(cfg.origins[0].idle_timeout == std::chrono::seconds(3));
  // No routes and no default pool: everything goes to the first pool.
  REQUIRE(cfg.routes.size() == 1);
  CHECK(cfg.routes[0].origin == "a");
}

TEST_CASE("gateway config: an explicit upstream.url adds the default pool beside [[origins]]") {
  auto cfg = load("[upstream]\nurl = \"http://127.0.0.1:7000\"\n[[origins]]\nname = \"b\"\nmembers = [\"http://127.0.0.1:2\"]\n"
                  "[[routes]]\nhost = \"b.example\"\norigin = \"b\"\n");
  REQUIRE(cfg.origins.size() == 2);
  CHECK(cfg.origins[0].name == "default");
  REQUIRE(cfg.routes.size() == 2);
  CHECK(cfg.routes[1].origin == "default");
}

TEST_CASE("gateway config: errors name the key and its line") {
  CHECK(config_load_error("[[origins]]\nname = \"a\"\nmembers = [ { url = \"ftp://x\" } ]\n")
            .find("relay.toml:3: origins[1].members[1].url") != std::string::npos);
  CHECK(config_load_error("[[origins]]\nname = \"a\"\nmembers = [\"http://h:1\"]\nbalance = \"random\"\n")
            .find("relay.toml:4: origins[1].balance: expected \"round-robin\"") != std::string::npos);
  CHECK(config_load_error("[[origins]]\nname = \"a\"\nmembers = [\"http://h:1\"]\nhealth_check = { path = \"/h\", rise = 0 }\n")
            .find("origins[1].health_check.rise: must be 1..100") != std::string::npos);
  CHECK(config_load_error("[[origins]]\nname = \"a\"\n").find("missing required key \"members\"") != std::string::npos);
  CHECK(config_load_error("[[origins]]\nname = \"a\"\nmembers = [\"http://h:1\"]\n[[origins]]\nname = \"a\"\nmembers = "
                 "[\"http://h:2\"]\n")
            .find("relay.toml:4: origins[2].name: \"a\" is already") != std::string::npos);
  CHECK(config_load_error("[[routes]]\npath = \"/x\"\norigin = \"nope\"\n").find("routes[1].origin: no [[origins]] pool") !=
        std::string::npos);
  CHECK(config_load_error("[[routes]]\npath = \"x\"\n").find("relay.toml:2: routes[1].path: must start with") !=
        std::string::npos);
  CHECK(config_load_error("[[routes]]\npath = \"/x\"\nresponse_headers = { set = { \"Content-Length\" = \"1\" } }\n")
            .find("cannot be edited") != std::string::npos);
  CHECK(config_load_error("[[routes]]\npath = \"/x\"\nrequest_headers = { add = { \"X-A\" = \"a\\nb\" } }\n")
            .find("CR, LF or NUL") != std::string::npos);
  CHECK(config_load_error("[[routes]]\npath = \"/x\"\nspeed = 3\n").find("relay.toml:3: routes[1].speed: unknown key") !=
        std::string::npos);
  CHECK(config_load_error("[[origins]]\nname = \"a\"\nmembers = [\"http://h:1\"]\nhealth_check = { path = \"/h\", interval = "
                 "\"1s\", timeout = \"2s\" }\n")
            .find("must not exceed interval") != std::string::npos);
}

TEST_CASE("gateway config: routes are file-only, like cache rules") {
  CHECK_THROWS_WITH_AS(config::load_from_string("", "relay.toml", {{"RELAY_ROUTES_PATH", "/x"}}),
                       doctest::Contains("can only be set in the config file"), config::ConfigError);
}

TEST_CASE("gateway config: a route's own cache rules come before [[cache.rules]]") {
  auto cfg = load(R"(
[[cache.rules]]
path = "/api/*"
ttl = "1m"
[[routes]]
path = "/api/*"
[[routes.cache_rules]]
path = "/api/slow/*"
ttl = "1h"
)");
  REQUIRE(cfg.routes.size() == 2);
  REQUIRE(cfg.routes[0].cache_rules.size() == 1);
  CHECK(cfg.routes[0].cache_rules[0].ttl == std::chrono::hours(1));
}

TEST_CASE("gateway config: a reload may change timeouts but not members") {
  auto a = load(kGatewayAcceptance);
  auto b = a;
  b.origins[0].connect_timeout = std::chrono::seconds(1);
  CHECK_FALSE(config::restart_needed(a, b));
  b.origins[0].members[1].url = "http://127.0.0.1:9003";
  CHECK(config::restart_needed(a, b) == std::optional<std::string>("origins"));
}

TEST_CASE("route table: first match by host pattern and path glob") {
  std::vector<config::Route> routes(4);
  routes[0].host = "api.example.com";
  routes[0].path = "/v1/*";
  routes[1].host = "*.example.com";
  routes[2].path = "/static/*";
  routes[3].path = "/*";
  CHECK(gateway::match_route(routes, "API.example.com:8080", "/v1/x") == 0u);
  CHECK(gateway::match_route(routes, "api.example.com", "/v2/x") == 1u);
  CHECK(gateway::match_route(routes, "a.b.example.com", "/") == 1u);
  CHECK(gateway::match_route(routes, "example.com", "/static/a") == 2u);
  CHECK(gateway::match_route(routes, "[::1]:80", "/x") == 3u);
  routes.pop_back();
  CHECK_FALSE(gateway::match_route(routes, "other.test", "/x"));
  CHECK(gateway::host_of("[::1]:80") == "::1");
  CHECK(gateway::host_of("h.test:81") == "h.test");
}

TEST_CASE("origin pool: ordered failover by priority, back when healthy again") {
  config::OriginPool cfg;
  cfg.name = "p";
  cfg.members = {{"http://127.0.0.1:1", 1, 1}, {"http://127.0.0.1:2", 1, 2}};
  cfg.health_check.path = "/h";
  cfg.health_check.rise = 2;
  cfg.health_check.fall = 1;
  gateway::OriginPool pool(cfg);
  const auto now = gateway::Clock::now();
  for (int i = 0; i < 5; ++i) CHECK(pool.pick("k", {}, now) == 0u);
  CHECK(pool.report_check(0, false) == std::optional<bool>(false));
  for (int i = 0; i < 5; ++i) CHECK(pool.pick("k", {}, now) == 1u);
  CHECK_FALSE(pool.report_check(0, true));  // rise = 2
  CHECK(pool.pick("k", {}, now) == 1u);
  CHECK(pool.report_check(0, true) == std::optional<bool>(true));
  CHECK(pool.pick("k", {}, now) == 0u);
  // A member already tried is skipped; none left: nothing.
  const std::size_t tried[] = {0};
  CHECK(pool.pick("k", tried, now) == 1u);
  const std::size_t both[] = {0, 1};
  CHECK_FALSE(pool.pick("k", both, now));
}

TEST_CASE("origin pool: with every member down, the best priority is tried anyway") {
  config::OriginPool cfg;
  cfg.members = {{"http://127.0.0.1:1", 1, 1}, {"http://127.0.0.1:2", 1, 2}};
  cfg.health_check.path = "/h";
  cfg.health_check.fall = 1;
  gateway::OriginPool pool(cfg);
  pool.report_check(0, false);
  pool.report_check(1, false);
  CHECK(pool.pick("k", {}, gateway::Clock::now()) == 0u);
}

TEST_CASE("origin pool: passive ejection after consecutive connect failures, for the cool-down") {
  config::OriginPool cfg;
  cfg.members = {{"http://127.0.0.1:1", 1, 1}, {"http://127.0.0.1:2", 1, 1}};
  cfg.balance = config::Balance::RoundRobin;
  cfg.passive.failures = 2;
  cfg.passive.cooldown = std::chrono::seconds(10);
  gateway::OriginPool pool(cfg);
  const auto now = gateway::Clock::now();
  CHECK_FALSE(pool.report_connect_failure(0, now));
  CHECK(pool.report_response(0, 200, now) == false);  // an answer resets the run
  CHECK_FALSE(pool.report_connect_failure(0, now));
  CHECK(pool.report_connect_failure(0, now));
  CHECK_FALSE(pool.healthy(0, now));
  for (int i = 0; i < 4; ++i) CHECK(pool.pick("k", {}, now) == 1u);
  CHECK(pool.healthy(0, now + std::chrono::seconds(11)));
  // 5xx count only with on_5xx.
  CHECK_FALSE(pool.report_response(1, 503, now));
  CHECK_FALSE(pool.report_response(1, 503, now));
  CHECK(pool.healthy(1, now));
}

TEST_CASE("origin pool: weighted round-robin shares by weight") {
  config::OriginPool cfg;
  cfg.members = {{"http://127.0.0.1:1", 3, 1}, {"http://127.0.0.1:2", 1, 1}};
  gateway::OriginPool pool(cfg);
  std::map<std::size_t, int> seen;
  for (int i = 0; i < 400; ++i) ++seen[*pool.pick("", {}, gateway::Clock::now())];
  CHECK(seen[0] == 300);
  CHECK(seen[1] == 100);
}

TEST_CASE("origin pool: consistent hashing keeps a key on one member and moves only the lost member's keys") {
  config::OriginPool cfg;
  cfg.balance = config::Balance::ConsistentHash;
  cfg.health_check.path = "/h";
  cfg.health_check.fall = 1;
  cfg.members = {{"http://127.0.0.1:1", 1, 1}, {"http://127.0.0.1:2", 1, 1}, {"http://127.0.0.1:3", 1, 1}};
  gateway::OriginPool pool(cfg);
  const auto now = gateway::Clock::now();
  std::map<std::string, std::size_t> placed;
  std::set<std::size_t> used;
  for (int i = 0; i < 300; ++i) {
    const auto key = "http://h/obj" + std::to_string(i);
    placed[key] = *pool.pick(key, {}, now);
    used.insert(placed[key]);
    CHECK(pool.pick(key, {}, now) == placed[key]);  // sticky
  }
  CHECK(used.size() == 3);  // spread
  pool.report_check(2, false);
  for (const auto& [key, member] : placed) {
    if (member != 2) CHECK(pool.pick(key, {}, now) == member);
    else CHECK(pool.pick(key, {}, now) != 2u);
  }
}

TEST_CASE("origin pool: least-connections prefers the member with fewer requests in flight") {
  config::OriginPool cfg;
  cfg.balance = config::Balance::LeastConnections;
  cfg.members = {{"http://127.0.0.1:1", 1, 1}, {"http://127.0.0.1:2", 1, 1}};
  gateway::OriginPool pool(cfg);
  gateway::OriginPool::InFlight busy(pool, 0);
  for (int i = 0; i < 4; ++i) CHECK(pool.pick("", {}, gateway::Clock::now()) == 1u);
}

TEST_CASE("header edits: remove, then set, then add") {
  http::Headers headers;
  headers.add("Server", "origin/1.0");
  headers.add("X-Powered-By", "php");
  headers.add("Cache-Control", "a");
  config::HeaderEdits edits;
  edits.remove = {"x-powered-by", "Server"};
  edits.set = {{"Cache-Control", "b"}, {"X-Content-Type-Options", "nosniff"}};
  edits.add = {{"Link", "</a>"}};
  gateway::apply_edits(headers, edits);
  CHECK_FALSE(headers.contains("server"));
  CHECK_FALSE(headers.contains("x-powered-by"));
  CHECK(headers.get("cache-control") == "b");
  CHECK(headers.get("x-content-type-options") == "nosniff");
  CHECK(headers.get("link") == "</a>");
}

TEST_CASE("trusted proxies: the client is the first untrusted address from the right") {
  admin::Allowlist trusted({"10.0.0.0/8", "127.0.0.1"});
  http::Headers h;
  h.add("X-Forwarded-For", "198.51.100.9, 203.0.113.7");
  h.add("X-Forwarded-For", "10.1.2.3");
  CHECK(gateway::real_client("127.0.0.1", h, trusted) == "203.0.113.7");
  // An untrusted peer's chain is ignored.
  CHECK(gateway::real_client("192.0.2.1", h, trusted) == "192.0.2.1");
  // Garbage stops the walk at the last address that could be verified.
  http::Headers bad;
  bad.add("X-Forwarded-For", "203.0.113.7, not-an-ip, 10.0.0.5");
  CHECK(gateway::real_client("127.0.0.1", bad, trusted) == "10.0.0.5");
  CHECK(gateway::real_client("127.0.0.1", http::Headers{}, admin::Allowlist{}) == "127.0.0.1");
}

TEST_CASE("trusted proxies: forwarding fields extended for a trusted peer, overwritten for others") {
  admin::Allowlist trusted({"127.0.0.1"});
  http::Headers from_proxy;
  from_proxy.add("X-Forwarded-For", "203.0.113.7");
  from_proxy.add("X-Forwarded-Proto", "https");
  from_proxy.add("Forwarded", "for=203.0.113.7;proto=https");
  gateway::set_forwarding_fields(from_proxy, "127.0.0.1", "shop.test", trusted, true);
  CHECK(from_proxy.get("x-forwarded-for") == "203.0.113.7, 127.0.0.1");
  CHECK(from_proxy.get("x-forwarded-proto") == "https");
  CHECK(from_proxy.get("forwarded") == "for=203.0.113.7;proto=https, for=127.0.0.1;proto=https;host=\"shop.test\"");

  http::Headers spoofed = from_proxy;
  gateway::set_forwarding_fields(spoofed, "::1", "shop.test", trusted, false);
  CHECK(spoofed.get("x-forwarded-for") == "::1");
  CHECK(spoofed.get("x-forwarded-proto") == "http");
  CHECK_FALSE(spoofed.contains("forwarded"));

  http::Headers v6;
  gateway::set_forwarding_fields(v6, "::1", "", trusted, true);
  CHECK(v6.get("forwarded") == "for=\"[::1]\";proto=http");
}

TEST_CASE("gateway config: --print-config writes [[origins]] and [[routes]] back loadably") {
  const std::string text = std::string(kGatewayAcceptance) + R"(
[[origins]]
name = "assets"
members = [ "http://127.0.0.1:9003" ]
host = "assets.internal"
balance = "consistent-hash"
passive = { failures = 2, on_5xx = true, cooldown = "3s" }
[[routes]]
host = "*.example.com"
path = "/img/*"
origin = "assets"
honour_client_no_cache = false
request_headers = { remove = ["X-Debug"], add = { "X-A" = "a \"q\"" } }
[[routes.cache_rules]]
path = "/img/*"
ttl = "1d"
)";
  const auto loaded = config::load_with_sources(text, "relay.toml", {});
  const auto printed = config::print_config(loaded);
  const auto again = config::load_from_string(printed, "printed.toml", {});
  CHECK(config::same_topology(loaded.config.origins, again.origins));
  REQUIRE(again.routes.size() == loaded.config.routes.size());
  for (std::size_t i = 0; i < again.routes.size(); ++i) {
    const auto& a = loaded.config.routes[i];
    const auto& b = again.routes[i];
    CHECK(a.host == b.host);
    CHECK(a.path == b.path);
    CHECK(a.origin == b.origin);
    CHECK(a.max_body_size == b.max_body_size);
    CHECK(a.honour_client_no_cache == b.honour_client_no_cache);
    CHECK(a.request_headers.add == b.request_headers.add);
    CHECK(a.request_headers.remove == b.request_headers.remove);
    CHECK(a.response_headers.set == b.response_headers.set);
    CHECK(a.cache_rules.size() == b.cache_rules.size());
  }
  CHECK(again.origins[1].host == "assets.internal");
  CHECK(again.origins[1].passive.on_5xx);
}

TEST_CASE("gateway config: a pool's own tls table and a route's upgrades") {
  auto cfg = load(R"(
[upstream.tls]
min_version = "1.3"
[[origins]]
name = "secure"
members = [ "https://127.0.0.1:8443" ]
tls = { verify = false, sni = "origin.internal", min_version = "1.2" }
[[origins]]
name = "inherits"
members = [ "https://127.0.0.1:9443" ]
[[routes]]
path = "/ws/*"
origin = "secure"
upgrades = ["websocket", "x-custom"]
)");
  REQUIRE(cfg.origins.size() == 2);
  CHECK_FALSE(cfg.origins[0].tls.verify);
  CHECK(cfg.origins[0].tls.sni == "origin.internal");
  CHECK(cfg.origins[0].tls.min_version == config::TlsVersion::V1_2);
  CHECK(cfg.origins[1].tls.min_version == config::TlsVersion::V1_3);  // [upstream.tls] is the default
  REQUIRE(cfg.routes[0].upgrades);
  CHECK(cfg.routes[0].upgrades->size() == 2);
  CHECK(config_load_error("[[origins]]\nname = \"a\"\nmembers = [\"https://h:1\"]\ntls = { ca_file = \"/nonexistent/ca.pem\" }\n")
            .find("relay.toml:4: origins[1].tls: ca_file") != std::string::npos);
  CHECK(config_load_error("[[routes]]\npath = \"/x\"\nupgrades = [\"web socket\"]\n").find("routes[1].upgrades") !=
        std::string::npos);
}
