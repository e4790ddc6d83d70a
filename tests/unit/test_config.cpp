#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "config_errors.hpp"
#include "relay/cache/policy.hpp"
#include "relay/config/config.hpp"
#include "relay/config/schema.hpp"

using namespace relay::config;
using namespace std::chrono_literals;

namespace {

// The ConfigError message of f(), or "" if it did not throw one.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string load_error(const std::string& toml, const Environment& env = {}) {
  return error_of([&] { load_from_string(toml, "relay.toml", env); });
}

using relay::test::load;

void check_same(const Config& a, const Config& b) {
  CHECK(a.server.listen == b.server.listen);
  CHECK(a.server.threads == b.server.threads);
  CHECK(a.server.max_header_size == b.server.max_header_size);
  CHECK(a.server.max_url_length == b.server.max_url_length);
  CHECK(a.server.header_timeout == b.server.header_timeout);
  CHECK(a.server.idle_timeout == b.server.idle_timeout);
  CHECK(a.server.body_timeout == b.server.body_timeout);
  CHECK(a.server.min_body_rate == b.server.min_body_rate);
  CHECK(a.server.shutdown_grace == b.server.shutdown_grace);
  CHECK(a.server.max_connections == b.server.max_connections);
  CHECK(a.upstream.url == b.upstream.url);
  CHECK(a.upstream.connect_timeout == b.upstream.connect_timeout);
  CHECK(a.upstream.first_byte_timeout == b.upstream.first_byte_timeout);
  CHECK(a.upstream.idle_timeout == b.upstream.idle_timeout);
  CHECK(a.upstream.max_connections == b.upstream.max_connections);
  CHECK(a.upstream.queue_timeout == b.upstream.queue_timeout);
  CHECK(a.upstream.preserve_host == b.upstream.preserve_host);
  CHECK(a.cache.default_ttl == b.cache.default_ttl);
  CHECK(a.cache.max_object_size == b.cache.max_object_size);
  CHECK(a.cache.heuristic_max == b.cache.heuristic_max);
  CHECK(a.cache.stale_while_revalidate == b.cache.stale_while_revalidate);
  CHECK(a.cache.stale_if_error == b.cache.stale_if_error);
  CHECK(a.cache.targeted_fields == b.cache.targeted_fields);
  CHECK(a.cache.strip_targeted_fields == b.cache.strip_targeted_fields);
  CHECK(a.cache.status_name == b.cache.status_name);
  CHECK(a.cache.set_cookie == b.cache.set_cookie);
  CHECK(a.cache.strip_request_headers == b.cache.strip_request_headers);
  CHECK(a.cache.rules.size() == b.cache.rules.size());
  CHECK(a.cache.key.sort_query == b.cache.key.sort_query);
  CHECK(a.cache.key.ignore_params == b.cache.key.ignore_params);
  CHECK(a.cache.key.headers == b.cache.key.headers);
  CHECK(a.storage.backend == b.storage.backend);
  CHECK(a.storage.max_size == b.storage.max_size);
  CHECK(a.storage.eviction == b.storage.eviction);
  CHECK(a.storage.tier == b.storage.tier);
  CHECK(a.storage.keep_time == b.storage.keep_time);
  CHECK(a.storage.compression == b.storage.compression);
  CHECK(a.storage.compression_level == b.storage.compression_level);
  CHECK(a.storage.compression_min_size == b.storage.compression_min_size);
  CHECK(a.storage.compression_types == b.storage.compression_types);
  CHECK(a.storage.disk.path == b.storage.disk.path);
  CHECK(a.storage.disk.max_size == b.storage.disk.max_size);
  CHECK(a.storage.disk.min_free_space == b.storage.disk.min_free_space);
  CHECK(a.storage.disk.io_threads == b.storage.disk.io_threads);
  CHECK(a.storage.disk.verify == b.storage.disk.verify);
  CHECK(a.storage.redis.url == b.storage.redis.url);
  CHECK(a.storage.redis.key_prefix == b.storage.redis.key_prefix);
  CHECK(a.storage.redis.connect_timeout == b.storage.redis.connect_timeout);
  CHECK(a.storage.redis.command_timeout == b.storage.redis.command_timeout);
  CHECK(a.storage.redis.chunk_size == b.storage.redis.chunk_size);
  CHECK(a.maintenance.interval == b.maintenance.interval);
  CHECK(a.maintenance.lock == b.maintenance.lock);
  CHECK(a.metrics.enabled == b.metrics.enabled);
  CHECK(a.metrics.path == b.metrics.path);
  CHECK(a.log.level == b.log.level);
  CHECK(a.log.format == b.log.format);
  CHECK(a.log.access_log == b.log.access_log);
}

struct ErrorCase {
  std::string toml;
  Environment env;
  std::string expected;  // substring of the message
};

void check_errors(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.toml);
    CAPTURE(c.expected);
    const auto msg = load_error(c.toml, c.env);
    CAPTURE(msg);
    CHECK(msg.find(c.expected) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("config: defaults, empty file and header agree") {
  check_same(load_defaults({}), Config{});
  check_same(load("", {}), Config{});
  check_same(load("[server]\n[cache.key]\n", {}), Config{});
}

TEST_CASE("config: every key and type parses from TOML") {
  const auto c = load(R"(
[server]
listen = "[::1]:8443"
threads = 0
max_header_size = "32KiB"
max_url_length = 2048
header_timeout = "250ms"
idle_timeout = 5
body_timeout = "90s"
min_body_rate = "4KiB"
shutdown_grace = "1m"
max_connections = 42

[upstream]
url = "https://origin.example:8443/base"
connect_timeout = "2s"
first_byte_timeout = "1h"
idle_timeout = "2d"
max_connections = 8
queue_timeout = "1500ms"
preserve_host = false

[cache]
default_ttl = "30"
max_object_size = "10MiB"
heuristic_max = "2h"
stale_while_revalidate = "30s"
stale_if_error = 600
targeted_fields = ["Relay-Cache-Control", "CDN-Cache-Control"]
strip_targeted_fields = true
status_name = "edge-1.example"

[cache.key]
sort_query = false
ignore_params = []
headers = ["Accept-Encoding", "X-Device"]

[storage]
backend = "memory"
max_size = "1GiB"

[metrics]
enabled = false
path = "/_relay/metrics"

[log]
level = "debug"
format = "json"
access_log = "/var/log/relay/access.log"
)");
  CHECK(c.server.listen.text == "[::1]:8443");
  CHECK(c.server.threads == 0);
  CHECK(c.server.max_header_size == 32 * 1024);
  CHECK(c.server.max_url_length == 2048);
  CHECK(c.server.header_timeout == 250ms);
  CHECK(c.server.idle_timeout == 5s);
  CHECK(c.server.body_timeout == 90s);
  CHECK(c.server.min_body_rate == 4096);
  CHECK(c.server.shutdown_grace == 1min);
  CHECK(c.server.max_connections == 42);
  CHECK(c.upstream.url.text == "https://origin.example:8443/base");
  CHECK(c.upstream.connect_timeout == 2s);
  CHECK(c.upstream.first_byte_timeout == 1h);
  CHECK(c.upstream.idle_timeout == 48h);
  CHECK(c.upstream.max_connections == 8);
  CHECK(c.upstream.queue_timeout == 1500ms);
  CHECK_FALSE(c.upstream.preserve_host);
  CHECK(c.cache.default_ttl == 30s);
  CHECK(c.cache.max_object_size == 10ull << 20);
  CHECK(c.cache.heuristic_max == 2h);
  CHECK(c.cache.stale_while_revalidate == 30s);
  CHECK(c.cache.stale_if_error == 10min);
  CHECK(c.cache.targeted_fields == std::vector<std::string>{"Relay-Cache-Control", "CDN-Cache-Control"});
  CHECK(c.cache.strip_targeted_fields);
  CHECK(c.cache.status_name == "edge-1.example");
  CHECK_FALSE(c.cache.key.sort_query);
  CHECK(c.cache.key.ignore_params.empty());
  CHECK(c.cache.key.headers == std::vector<std::string>{"Accept-Encoding", "X-Device"});
  CHECK(c.storage.max_size == 1ull << 30);
  CHECK_FALSE(c.metrics.enabled);
  CHECK(c.metrics.path == "/_relay/metrics");
  CHECK(c.log.level == LogLevel::Debug);
  CHECK(c.log.format == LogFormat::Json);
  CHECK(c.log.access_log.text() == "/var/log/relay/access.log");
}

TEST_CASE("config: request body limits and the origin connection queue") {
  const Config defaults;
  CHECK(defaults.server.body_timeout == 60s);
  CHECK(defaults.server.min_body_rate == 1024);
  CHECK(defaults.upstream.queue_timeout == 10s);
  CHECK(defaults.upstream.max_connections == 64);

  // min_body_rate = 0 turns the extension off: body_timeout is a hard total.
  CHECK(load("[server]\nmin_body_rate = 0\n").server.min_body_rate == 0);
  const auto env = load_defaults({{"RELAY_SERVER_BODY_TIMEOUT", "2m"},
                                  {"RELAY_SERVER_MIN_BODY_RATE", "512"},
                                  {"RELAY_UPSTREAM_QUEUE_TIMEOUT", "250ms"}});
  CHECK(env.server.body_timeout == 2min);
  CHECK(env.server.min_body_rate == 512);
  CHECK(env.upstream.queue_timeout == 250ms);

  check_errors({
      {"[server]\nbody_timeout = \"0s\"\n", {}, "relay.toml:2: server.body_timeout: must be greater than 0"},
      {"[server]\nbody_timeout = \"soon\"\n", {}, "relay.toml:2: server.body_timeout"},
      {"[server]\nmin_body_rate = -1\n", {}, "relay.toml:2: server.min_body_rate: expected a size"},
      {"[server]\nmin_body_rate = \"fast\"\n", {}, "relay.toml:2: server.min_body_rate"},
      {"[upstream]\nqueue_timeout = 0\n", {}, "relay.toml:2: upstream.queue_timeout: must be greater than 0"},
      {"", {{"RELAY_UPSTREAM_QUEUE_TIMEOUT", "-1s"}}, "RELAY_UPSTREAM_QUEUE_TIMEOUT"},
      {"[upstream]\nmax_connections = 0\n", {}, "relay.toml:2: upstream.max_connections: must be >= 1"},
  });
}

TEST_CASE("config: inline and dotted tables reach the same keys") {
  const auto c = load("cache = { key = { sort_query = false } }\nserver.threads = 3\n");
  CHECK_FALSE(c.cache.key.sort_query);
  CHECK(c.server.threads == 3);
}

TEST_CASE("config: parse_duration") {
  const std::vector<std::pair<std::string, Duration>> good = {
      {"250ms", 250ms}, {"30s", 30s}, {"5m", 5min}, {"1h", 1h}, {"2d", 48h},
      {"30", 30s},      {"0", 0ms},   {"0ms", 0ms}, {"1ms", 1ms},
  };
  for (const auto& c : good) {
    CAPTURE(c.first);
    CHECK(parse_duration(c.first) == c.second);
  }
  for (const std::string bad : {"", "abc", "-5s", "5x", "1.5s", "s", "30 s", " 5s", "5S", "5sec",
                                "99999999999999999999", "999999999999999d"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_duration(bad), std::invalid_argument);
  }
}

TEST_CASE("config: parse_size") {
  const std::vector<std::pair<std::string, std::uint64_t>> good = {
      {"512", 512},         {"0", 0},           {"64KiB", 64 << 10},    {"64KB", 64 << 10},
      {"64K", 64 << 10},    {"64k", 64 << 10},  {"10MiB", 10ull << 20}, {"10MB", 10ull << 20},
      {"1GiB", 1ull << 30}, {"1G", 1ull << 30}, {"1TiB", 1ull << 40},   {"100B", 100},
  };
  for (const auto& c : good) {
    CAPTURE(c.first);
    CHECK(parse_size(c.first) == c.second);
  }
  for (const std::string bad : {"", "abc", "-1", "5X", "1.5K", "K", "64 KiB", "64KiBs", "64iB",
                                "18446744073709551616", "99999999T"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_size(bad), std::invalid_argument);
  }
}

TEST_CASE("config: duration and size values in the file") {
  CHECK(load("[server]\nheader_timeout = 7\n").server.header_timeout == 7s);
  CHECK(load("[server]\nheader_timeout = \"7\"\n").server.header_timeout == 7s);
  CHECK(load("[storage]\nmax_size = 4096\n").storage.max_size == 4096);
  CHECK(load("[storage]\nmax_size = \"4K\"\n").storage.max_size == 4096);
  check_errors({
      {"\n[cache]\ndefault_ttl = \"abc\"\n", {},
       R"(relay.toml:3: cache.default_ttl: expected a duration like "30s", got "abc")"},
      {"[cache]\ndefault_ttl = -5\n", {},
       "relay.toml:2: cache.default_ttl: expected a duration like \"30s\", got -5"},
      {"[cache]\ndefault_ttl = \"-5s\"\n", {}, "relay.toml:2: cache.default_ttl: expected a duration"},
      {"[cache]\ndefault_ttl = 1.5\n", {}, "relay.toml:2: cache.default_ttl: expected a duration"},
      {"[cache]\ndefault_ttl = 9223372036854775807\n", {},
       "relay.toml:2: cache.default_ttl: expected a duration"},
      {"[storage]\nmax_size = -1\n", {},
       "relay.toml:2: storage.max_size: expected a size like \"64MiB\", got -1"},
      {"[storage]\nmax_size = \"lots\"\n", {},
       R"(relay.toml:2: storage.max_size: expected a size like "64MiB", got "lots")"},
      {"[server]\nmax_connections = -1\n", {}, "relay.toml:2: server.max_connections: must not be negative"},
      {"[server]\nthreads = 99999999999\n", {}, "relay.toml:2: server.threads: out of range"},
  });
}

TEST_CASE("config: unknown keys and tables name the key and line") {
  check_errors({
      {"[server]\nlisten = \"127.0.0.1:1\"\n\nlistn = \"x\"\n", {},
       "relay.toml:4: server.listn: unknown key"},
      {"\n\n[servr]\nlisten = \"x\"\n", {}, "relay.toml:3: servr: unknown table"},
      {"[cache.key]\nfoo = 1\n", {}, "relay.toml:2: cache.key.foo: unknown key"},
      {"[cache.kee]\n", {}, "relay.toml:1: cache.kee: unknown table"},
      {"listen = \"x\"\n", {}, "relay.toml:1: listen: unknown key"},
      {"[server]\n\"threads.x\" = 1\n", {}, "relay.toml:2: server.threads.x: unknown key"},
      {"\"server.threads\" = 1\n", {}, "relay.toml:1: server.threads: unknown key"},
  });
}

TEST_CASE("config: wrong types name the key and line") {
  check_errors({
      {"[server]\nthreads = \"four\"\n", {},
       R"(relay.toml:2: server.threads: expected an integer, got "four")"},
      {"[server]\n\nthreads = 4.0\n", {}, "relay.toml:3: server.threads: expected an integer, got 4.0"},
      {"[server]\nlisten = 8080\n", {}, "relay.toml:2: server.listen: expected a string, got 8080"},
      {"[metrics]\nenabled = \"yes\"\n", {},
       R"(relay.toml:2: metrics.enabled: expected a boolean, got "yes")"},
      {"[cache.key]\nheaders = \"Accept\"\n", {},
       "relay.toml:2: cache.key.headers: expected an array of strings"},
      {"[cache.key]\nheaders = [\"a\", 2]\n", {},
       "relay.toml:2: cache.key.headers: expected an array of strings, got 2 at index 1"},
      {"server = 5\n", {}, "relay.toml:1: server: expected a table, got 5"},
      {"[[server]]\n", {}, "relay.toml:1: server: expected a table, got an array"},
      {"[server.listen]\n", {}, "relay.toml:1: server.listen: expected a string, got a table"},
  });
}

TEST_CASE("config: TOML syntax errors name the file and line") {
  check_errors({
      {"[server\nthreads = 1\n", {}, "relay.toml:1: syntax error"},
      {"[server]\nthreads = 1\nthreads = 2\n", {}, "relay.toml:3: syntax error"},
      {"[server]\nlisten = \"unterminated\n", {}, "relay.toml:2: syntax error"},
  });
}

TEST_CASE("config: environment overrides") {
  SUBCASE("env beats the file") {
    const auto c = load("[server]\nlisten = \"0.0.0.0:80\"\nthreads = 2\n",
                        {{"RELAY_SERVER_LISTEN", "127.0.0.1:9999"}});
    CHECK(c.server.listen.text == "127.0.0.1:9999");
    CHECK(c.server.threads == 2);
  }
  SUBCASE("nested tables join with '_'") {
    const auto c = load_defaults({{"RELAY_CACHE_KEY_IGNORE_PARAMS", "utm_*, ref ,,"},
                                  {"RELAY_CACHE_KEY_HEADERS", ""},
                                  {"RELAY_CACHE_KEY_SORT_QUERY", "no"}});
    CHECK(c.cache.key.ignore_params == std::vector<std::string>{"utm_*", "ref"});
    CHECK(c.cache.key.headers.empty());
    CHECK_FALSE(c.cache.key.sort_query);
  }
  SUBCASE("every type parses from a string") {
    const auto c = load_defaults({
        {"RELAY_SERVER_THREADS", "8"},
        {"RELAY_SERVER_MAX_HEADER_SIZE", "64KiB"},
        {"RELAY_SERVER_HEADER_TIMEOUT", "250ms"},
        {"RELAY_SERVER_MAX_CONNECTIONS", "5"},
        {"RELAY_UPSTREAM_URL", "https://example.com"},
        {"RELAY_UPSTREAM_PRESERVE_HOST", "0"},
        {"RELAY_METRICS_ENABLED", "FALSE"},
        {"RELAY_CACHE_DEFAULT_TTL", "30"},
        {"RELAY_LOG_ACCESS_LOG", "off"},
    });
    CHECK(c.server.threads == 8);
    CHECK(c.server.max_header_size == 64 << 10);
    CHECK(c.server.header_timeout == 250ms);
    CHECK(c.server.max_connections == 5);
    CHECK(c.upstream.url.text == "https://example.com");
    CHECK_FALSE(c.upstream.preserve_host);
    CHECK_FALSE(c.metrics.enabled);
    CHECK(c.cache.default_ttl == 30s);
    CHECK(c.log.access_log.text() == "off");
  }
  SUBCASE("the freshness, stale and Cache-Status keys") {
    const auto c = load("[cache]\nstale_if_error = \"1h\"\nstatus_name = \"file\"\n",
                        {
                            {"RELAY_CACHE_HEURISTIC_MAX", "0"},
                            {"RELAY_CACHE_STALE_WHILE_REVALIDATE", "45s"},
                            {"RELAY_CACHE_STALE_IF_ERROR", "5m"},
                            {"RELAY_CACHE_TARGETED_FIELDS", "Relay-Cache-Control, CDN-Cache-Control"},
                            {"RELAY_CACHE_STRIP_TARGETED_FIELDS", "yes"},
                            {"RELAY_CACHE_STATUS_NAME", "env"},
                        });
    CHECK(c.cache.heuristic_max == 0ms);
    CHECK(c.cache.stale_while_revalidate == 45s);
    CHECK(c.cache.stale_if_error == 5min);
    CHECK(c.cache.targeted_fields == std::vector<std::string>{"Relay-Cache-Control", "CDN-Cache-Control"});
    CHECK(c.cache.strip_targeted_fields);
    CHECK(c.cache.status_name == "env");
    // An empty list turns targeted fields off.
    CHECK(load_defaults({{"RELAY_CACHE_TARGETED_FIELDS", ""}}).cache.targeted_fields.empty());
  }
  SUBCASE("booleans") {
    for (const auto& c : std::vector<std::pair<std::string, bool>>{
             {"true", true}, {"1", true}, {"yes", true}, {"false", false}, {"0", false}, {"no", false}}) {
      CAPTURE(c.first);
      CHECK(load_defaults({{"RELAY_UPSTREAM_PRESERVE_HOST", c.first}}).upstream.preserve_host == c.second);
    }
  }
  SUBCASE("variables without the RELAY_ prefix are ignored") {
    check_same(load_defaults({{"PATH", "/bin"}, {"RELAYX", "1"}, {"relay_server_threads", "x"}}), Config{});
  }
}

TEST_CASE("config: bad environment values name the variable") {
  check_errors({
      {"", {{"RELAY_SERVER_THREADS", "x"}},
       R"(environment RELAY_SERVER_THREADS: expected an integer, got "x")"},
      {"", {{"RELAY_SERVER_THREADS", ""}},
       R"(environment RELAY_SERVER_THREADS: expected an integer, got "")"},
      {"", {{"RELAY_SERVER_THREADS", "4 "}}, "environment RELAY_SERVER_THREADS: expected an integer"},
      {"", {{"RELAY_SERVER_MAX_CONNECTIONS", "-3"}},
       "environment RELAY_SERVER_MAX_CONNECTIONS: must not be negative"},
      {"", {{"RELAY_METRICS_ENABLED", "maybe"}},
       R"(environment RELAY_METRICS_ENABLED: expected a boolean (true/false/1/0/yes/no), got "maybe")"},
      {"", {{"RELAY_CACHE_DEFAULT_TTL", "soon"}},
       R"(environment RELAY_CACHE_DEFAULT_TTL: expected a duration like "30s", got "soon")"},
      {"", {{"RELAY_STORAGE_MAX_SIZE", "-1"}},
       R"(environment RELAY_STORAGE_MAX_SIZE: expected a size like "64MiB", got "-1")"},
  });
}

TEST_CASE("config: unknown keys in known sections of the environment are rejected") {
  check_errors({
      {"", {{"RELAY_SERVER_LISTNE", "x"}}, "environment RELAY_SERVER_LISTNE: unknown variable"},
      {"", {{"RELAY_CACHE_KEY", "x"}}, "environment RELAY_CACHE_KEY: unknown variable"},
      {"", {{"RELAY_CACHE_COALESCE_SPOOL", "x"}}, "environment RELAY_CACHE_COALESCE_SPOOL: unknown variable"},
      {"", {{"RELAY_SERVER", "x"}}, "environment RELAY_SERVER: unknown variable"},
      {"", {{"RELAY_LOG_", "x"}}, "environment RELAY_LOG_: unknown variable"},
      // Known section, unknown key, even among ignored variables.
      {"", {{"RELAY_PORT", "tcp://10.0.0.1:8080"}, {"RELAY_STORAGE_PORT", "tcp://10.0.0.2:6379"}},
       "environment RELAY_STORAGE_PORT: unknown variable"},
  });
}

TEST_CASE("config: RELAY_ variables naming no section are ignored and listed (Kubernetes service links)") {
  // What Kubernetes injects for a Service named "relay" on port 8080.
  const Environment k8s = {{"RELAY_PORT", "tcp://10.0.0.1:8080"},
                           {"RELAY_PORT_8080_TCP", "tcp://10.0.0.1:8080"},
                           {"RELAY_PORT_8080_TCP_ADDR", "10.0.0.1"},
                           {"RELAY_PORT_8080_TCP_PORT", "8080"},
                           {"RELAY_PORT_8080_TCP_PROTO", "tcp"},
                           {"RELAY_SERVICE_HOST", "10.0.0.1"},
                           {"RELAY_SERVICE_PORT", "8080"},
                           {"RELAY_SERVICE_PORT_HTTP", "8080"},
                           {"RELAY_", ""},
                           {"RELAY_SERVERS", "x"},  // not [server]: the section name must end at '_'
                           {"RELAY_SERVER_THREADS", "3"}};
  const std::vector<std::string> ignored = {"RELAY_",
                                            "RELAY_PORT",
                                            "RELAY_PORT_8080_TCP",
                                            "RELAY_PORT_8080_TCP_ADDR",
                                            "RELAY_PORT_8080_TCP_PORT",
                                            "RELAY_PORT_8080_TCP_PROTO",
                                            "RELAY_SERVERS",
                                            "RELAY_SERVICE_HOST",
                                            "RELAY_SERVICE_PORT",
                                            "RELAY_SERVICE_PORT_HTTP"};
  SUBCASE("without a file") {
    const auto loaded = load_defaults_with_sources(k8s);
    CHECK(loaded.config.server.threads == 3);
    CHECK(loaded.ignored_environment == ignored);
  }
  SUBCASE("with a file") {
    const auto loaded = load_with_sources("[server]\nthreads = 2\n", "relay.toml", k8s);
    CHECK(loaded.config.server.threads == 3);
    CHECK(loaded.ignored_environment == ignored);
  }
  SUBCASE("nothing to ignore") {
    CHECK(load_defaults_with_sources({{"RELAY_SERVER_THREADS", "3"}}).ignored_environment.empty());
  }
}

TEST_CASE("config: relay_environment collects only RELAY_ variables") {
  ::setenv("RELAY_TEST_CONFIG_PROBE", "a=b", 1);
  ::setenv("NOT_RELAY_TEST_CONFIG_PROBE", "1", 1);
  const auto env = relay_environment();
  ::unsetenv("RELAY_TEST_CONFIG_PROBE");
  ::unsetenv("NOT_RELAY_TEST_CONFIG_PROBE");
  REQUIRE(env.count("RELAY_TEST_CONFIG_PROBE") == 1);
  CHECK(env.at("RELAY_TEST_CONFIG_PROBE") == "a=b");
  for (const auto& [name, value] : env) CHECK(name.rfind("RELAY_", 0) == 0);
}

TEST_CASE("config: set_cookie and strip_request_headers, in [cache] and in rules") {
  const auto c = load(R"([cache]
set_cookie = "strip"
strip_request_headers = ["X-Debug"]

[[cache.rules]]
path = "/a/*"
set_cookie = "store"
strip_request_headers = []
)");
  CHECK(c.cache.set_cookie == SetCookie::Strip);
  CHECK(c.cache.strip_request_headers == std::vector<std::string>{"X-Debug"});
  REQUIRE(c.cache.rules.size() == 1);
  CHECK(c.cache.rules[0].set_cookie == SetCookie::Store);
  CHECK(c.cache.rules[0].strip_request_headers == std::vector<std::string>{});
  CHECK(load("").cache.set_cookie == SetCookie::Pass);
  CHECK(load("", {{"RELAY_CACHE_SET_COOKIE", "store"}}).cache.set_cookie == SetCookie::Store);
  check_errors({
      {"[cache]\nset_cookie = \"keep\"\n", {}, "relay.toml:2: cache.set_cookie: expected pass, strip or store"},
      {"[cache]\nstrip_request_headers = [\"X Bad\"]\n", {},
       "relay.toml:2: cache.strip_request_headers: expected header field names, got \"X Bad\" at index 0"},
      {"[[cache.rules]]\npath = \"/\"\nset_cookie = \"yes\"\n", {},
       "relay.toml:3: cache.rules[1].set_cookie: expected pass, strip or store"},
      {"[[cache.rules]]\npath = \"/\"\nstrip_request_headers = [\"a:b\"]\n", {},
       "relay.toml:3: cache.rules[1].strip_request_headers: expected header field names"},
  });
}

TEST_CASE("config: validation") {
  check_errors({
      {"[server]\nlisten = \"localhost\"\n", {}, "relay.toml:2: server.listen: expected host:port"},
      {"[server]\nlisten = \"localhost:0\"\n", {}, "relay.toml:2: server.listen"},
      {"[server]\nlisten = \"localhost:65536\"\n", {}, "relay.toml:2: server.listen"},
      {"[server]\nlisten = \":8080\"\n", {}, "relay.toml:2: server.listen"},
      {"[server]\nlisten = \"::1:8080\"\n", {}, "relay.toml:2: server.listen"},
      {"[server]\nlisten = \"[::1]\"\n", {}, "relay.toml:2: server.listen"},
      {"[server]\nlisten = \"[]:80\"\n", {}, "relay.toml:2: server.listen"},
      {"[server]\nlisten = \"host:http\"\n", {}, "relay.toml:2: server.listen"},
      {"", {{"RELAY_SERVER_LISTEN", "nope"}},
       "environment RELAY_SERVER_LISTEN: server.listen: expected host:port"},
      {"[server]\nthreads = -1\n", {}, "relay.toml:2: server.threads: must be >= 0"},
      {"[upstream]\nurl = \"ftp://x\"\n", {}, "relay.toml:2: upstream.url: expected http://"},
      {"[upstream]\nurl = \"127.0.0.1:9000\"\n", {}, "relay.toml:2: upstream.url"},
      {"[upstream]\nurl = \"http://\"\n", {}, "relay.toml:2: upstream.url"},
      {"[upstream]\nurl = \"http:///path\"\n", {}, "relay.toml:2: upstream.url"},
      {"[upstream]\nurl = \"http://host:99999/\"\n", {}, "relay.toml:2: upstream.url"},
      {"[upstream]\nurl = \"http://a b\"\n", {}, "relay.toml:2: upstream.url"},
      {"", {{"RELAY_UPSTREAM_URL", "x"}}, "environment RELAY_UPSTREAM_URL: upstream.url"},
      {"[upstream]\nmax_connections = 0\n", {}, "relay.toml:2: upstream.max_connections: must be >= 1"},
      {"[server]\nheader_timeout = 0\n", {}, "relay.toml:2: server.header_timeout: must be greater than 0"},
      {"[upstream]\nfirst_byte_timeout = \"0ms\"\n", {},
       "relay.toml:2: upstream.first_byte_timeout: must be greater than 0"},
      {"[log]\nlevel = \"trace\"\n", {}, "relay.toml:2: log.level"},
      {"[log]\nformat = \"xml\"\n", {}, "relay.toml:2: log.format"},
      {"[metrics]\npath = \"metrics\"\n", {}, "relay.toml:2: metrics.path: must start with '/'"},
      {"[cache]\nstatus_name = \"\"\n", {}, "relay.toml:2: cache.status_name: expected a non-empty token"},
      {"[cache]\nstatus_name = \"my cache\"\n", {},
       "relay.toml:2: cache.status_name: expected a non-empty token (letters, digits, "
       R"(!#$%&'*+-.^_`|~), got "my cache")"},
      {"[cache]\nstatus_name = \"a;b\"\n", {}, "relay.toml:2: cache.status_name"},
      {"", {{"RELAY_CACHE_STATUS_NAME", "a\"b"}},
       "environment RELAY_CACHE_STATUS_NAME: cache.status_name: expected a non-empty token"},
      {"[cache]\ntargeted_fields = [\"CDN-Cache-Control\", \"Bad Name\"]\n", {},
       R"(relay.toml:2: cache.targeted_fields: expected header field names, got "Bad Name" at index 1)"},
      {"[cache]\ntargeted_fields = [\"\"]\n", {},
       "relay.toml:2: cache.targeted_fields: expected header field names"},
      {"", {{"RELAY_CACHE_TARGETED_FIELDS", "CDN-Cache-Control:"}},
       "environment RELAY_CACHE_TARGETED_FIELDS: cache.targeted_fields: expected header field names"},
      {"[cache]\nstale_if_error = \"soon\"\n", {},
       R"(relay.toml:2: cache.stale_if_error: expected a duration like "30s", got "soon")"},
      {"[cache]\nstrip_targeted_fields = 1\n", {},
       "relay.toml:2: cache.strip_targeted_fields: expected a boolean, got 1"},
  });
  // The boundaries that are valid.
  for (const std::string listen : {"[::1]:8080", "0.0.0.0:1", "localhost:65535", "[::]:80"}) {
    CAPTURE(listen);
    CHECK(load_defaults({{"RELAY_SERVER_LISTEN", listen}}).server.listen.text == listen);
  }
  for (const std::string url : {"http://h", "https://h:1/p?q", "http://[::1]:9000/", "http://user@h"}) {
    CAPTURE(url);
    CHECK(load_defaults({{"RELAY_UPSTREAM_URL", url}}).upstream.url.text == url);
  }
  CHECK(load("[cache]\ndefault_ttl = 0\n").cache.default_ttl == 0ms);
  CHECK(load("[cache]\nstatus_name = \"Relay.Edge_1~\"\n").cache.status_name == "Relay.Edge_1~");
}

TEST_CASE("config: every [storage] key parses from TOML") {
  const auto c = load(R"([storage]
backend = "disk"
max_size = "64MiB"
eviction = "lfu"
tier = "memory+disk"
keep_time = "2h"
compression = "zstd"
compression_level = 19
compression_min_size = "4KiB"
compression_types = ["text/html", "application/*", "image/svg+xml"]

[storage.disk]
path = "/srv/relay-cache"
max_size = "20GiB"
min_free_space = "5GiB"
io_threads = 8

[storage.redis]
url = "redis://:s3cret@cache.internal:6380/2"
key_prefix = "edge-eu:"
connect_timeout = "250ms"
command_timeout = "2s"
chunk_size = "1MiB"
)");
  const auto& s = c.storage;
  CHECK(s.backend == StorageBackend::Disk);
  CHECK(s.max_size == 64ull << 20);
  CHECK(s.eviction == Eviction::Lfu);
  CHECK(s.tier == Tier::MemoryDisk);
  CHECK(s.keep_time == 2h);
  CHECK(s.compression == Compression::Zstd);
  CHECK(s.compression_level == 19);
  CHECK(s.compression_min_size == 4096);
  CHECK(s.compression_types == std::vector<std::string>{"text/html", "application/*", "image/svg+xml"});
  CHECK(s.disk.path == "/srv/relay-cache");
  CHECK(s.disk.max_size == 20ull << 30);
  CHECK(s.disk.min_free_space == 5ull << 30);
  CHECK(s.disk.io_threads == 8);
  CHECK(s.redis.url.text == "redis://:s3cret@cache.internal:6380/2");
  CHECK(s.redis.key_prefix == "edge-eu:");
  CHECK(s.redis.connect_timeout == 250ms);
  CHECK(s.redis.command_timeout == 2s);
  CHECK(s.redis.chunk_size == 1ull << 20);
  // Dotted and inline forms reach the nested tables too; integers are seconds / bytes.
  const auto d = load("storage.disk.io_threads = 1\nstorage.redis = { chunk_size = 4096, connect_timeout = 3 }\n");
  CHECK(d.storage.disk.io_threads == 1);
  CHECK(d.storage.redis.chunk_size == 4096);
  CHECK(d.storage.redis.connect_timeout == 3s);
  // Other choices.
  CHECK(load("[storage]\nbackend = \"redis\"\n").storage.backend == StorageBackend::Redis);
  CHECK(load("[storage]\ntier = \"memory+redis\"\nbackend = \"redis\"\n").storage.tier == Tier::MemoryRedis);
  CHECK(load("[storage]\neviction = \"fifo\"\n").storage.eviction == Eviction::Fifo);
  CHECK(load("").storage.disk.verify == DiskVerify::FirstRead);
  CHECK(load("[storage.disk]\nverify = \"every_read\"\n").storage.disk.verify == DiskVerify::EveryRead);
  CHECK(load("[storage]\nkeep_time = 0\n").storage.keep_time == 0ms);
  CHECK(load("[storage]\ncompression_types = []\n").storage.compression_types.empty());
  CHECK(load("[storage.redis]\nkey_prefix = \"\"\n").storage.redis.key_prefix.empty());
}

TEST_CASE("config: every [storage] key from the environment") {
  const auto c = load("[storage]\nbackend = \"disk\"\n[storage.disk]\npath = \"/from/file\"\n",
                      {
                          {"RELAY_STORAGE_BACKEND", "redis"},
                          {"RELAY_STORAGE_MAX_SIZE", "32MiB"},
                          {"RELAY_STORAGE_EVICTION", "fifo"},
                          {"RELAY_STORAGE_TIER", "memory+redis"},
                          {"RELAY_STORAGE_KEEP_TIME", "10m"},
                          {"RELAY_STORAGE_COMPRESSION", "zstd"},
                          {"RELAY_STORAGE_COMPRESSION_LEVEL", "1"},
                          {"RELAY_STORAGE_COMPRESSION_MIN_SIZE", "0"},
                          {"RELAY_STORAGE_COMPRESSION_TYPES", "text/*, application/json"},
                          {"RELAY_STORAGE_DISK_PATH", "/from/env"},
                          {"RELAY_STORAGE_DISK_MAX_SIZE", "2GiB"},
                          {"RELAY_STORAGE_DISK_MIN_FREE_SPACE", "0"},
                          {"RELAY_STORAGE_DISK_IO_THREADS", "64"},
                          {"RELAY_STORAGE_REDIS_URL", "redis://10.0.0.5"},
                          {"RELAY_STORAGE_REDIS_KEY_PREFIX", "shop:"},
                          {"RELAY_STORAGE_REDIS_CONNECT_TIMEOUT", "5s"},
                          {"RELAY_STORAGE_REDIS_COMMAND_TIMEOUT", "1ms"},
                          {"RELAY_STORAGE_REDIS_CHUNK_SIZE", "4KiB"},
                      });
  const auto& s = c.storage;
  CHECK(s.backend == StorageBackend::Redis);
  CHECK(s.max_size == 32ull << 20);
  CHECK(s.eviction == Eviction::Fifo);
  CHECK(s.tier == Tier::MemoryRedis);
  CHECK(s.keep_time == 10min);
  CHECK(s.compression == Compression::Zstd);
  CHECK(s.compression_level == 1);
  CHECK(s.compression_min_size == 0);
  CHECK(s.compression_types == std::vector<std::string>{"text/*", "application/json"});
  CHECK(s.disk.path == "/from/env");
  CHECK(s.disk.max_size == 2ull << 30);
  CHECK(s.disk.min_free_space == 0);
  CHECK(s.disk.io_threads == 64);
  CHECK(s.redis.url.text == "redis://10.0.0.5");
  CHECK(s.redis.key_prefix == "shop:");
  CHECK(s.redis.connect_timeout == 5s);
  CHECK(s.redis.command_timeout == 1ms);
  CHECK(s.redis.chunk_size == 4096);
  // The nested tables are not variables themselves.
  check_errors({
      {"", {{"RELAY_STORAGE_DISK", "/x"}}, "environment RELAY_STORAGE_DISK: unknown variable"},
      {"", {{"RELAY_STORAGE_REDIS", "redis://h"}}, "environment RELAY_STORAGE_REDIS: unknown variable"},
      {"", {{"RELAY_STORAGE_DISK_IO_THREADS", "many"}},
       R"(environment RELAY_STORAGE_DISK_IO_THREADS: expected an integer, got "many")"},
      {"", {{"RELAY_STORAGE_REDIS_CHUNK_SIZE", "big"}},
       R"(environment RELAY_STORAGE_REDIS_CHUNK_SIZE: expected a size like "64MiB", got "big")"},
      {"", {{"RELAY_STORAGE_KEEP_TIME", "forever"}},
       R"(environment RELAY_STORAGE_KEEP_TIME: expected a duration like "30s", got "forever")"},
  });
}

TEST_CASE("config: [storage] validation") {
  check_errors({
      // backend, eviction, tier, compression: closed sets.
      {"[storage]\nbackend = \"s3\"\n", {},
       R"(relay.toml:2: storage.backend: expected memory, disk or redis, got "s3")"},
      {"", {{"RELAY_STORAGE_BACKEND", "Disk"}},
       R"(environment RELAY_STORAGE_BACKEND: storage.backend: expected memory, disk or redis, got "Disk")"},
      {"[storage.disk]\nverify = \"never\"\n", {},
       R"(relay.toml:2: storage.disk.verify: expected first_read or every_read, got "never")"},
      {"[storage]\neviction = \"arc\"\n", {},
       R"(relay.toml:2: storage.eviction: expected lru, lfu or fifo, got "arc")"},
      {"", {{"RELAY_STORAGE_EVICTION", ""}}, "environment RELAY_STORAGE_EVICTION: storage.eviction: expected lru"},
      {"[storage]\ntier = \"disk+memory\"\n", {},
       R"(relay.toml:2: storage.tier: expected none, memory+disk or memory+redis, got "disk+memory")"},
      {"", {{"RELAY_STORAGE_TIER", "memory"}}, "environment RELAY_STORAGE_TIER: storage.tier: expected none"},
      {"[storage]\ncompression = \"gzip\"\n", {},
       R"(relay.toml:2: storage.compression: expected none or zstd, got "gzip")"},
      {"", {{"RELAY_STORAGE_COMPRESSION", "zstd:3"}},
       "environment RELAY_STORAGE_COMPRESSION: storage.compression: expected none or zstd"},
      // A tier's lower level must agree with backend.
      {"[storage]\nbackend = \"redis\"\n\ntier = \"memory+disk\"\n", {},
       "relay.toml:4: storage.tier: tier = \"memory+disk\" implies the disk backend (memory in front of disk), "
       R"(so storage.backend must be "memory" (its default) or "disk", got "redis" (relay.toml:2))"},
      {"[storage]\ntier = \"memory+redis\"\n", {{"RELAY_STORAGE_BACKEND", "disk"}},
       "relay.toml:2: storage.tier: tier = \"memory+redis\" implies the redis backend (memory in front of "
       R"(redis), so storage.backend must be "memory" (its default) or "redis", got "disk" )"
       "(environment RELAY_STORAGE_BACKEND)"},
      {"[storage]\nbackend = \"disk\"\n", {{"RELAY_STORAGE_TIER", "memory+redis"}},
       "environment RELAY_STORAGE_TIER: storage.tier: tier = \"memory+redis\" implies the redis backend"},
      // compression_level 1..19.
      {"[storage]\ncompression_level = 0\n", {}, "relay.toml:2: storage.compression_level: must be 1..19, got 0"},
      {"[storage]\ncompression_level = 20\n", {}, "relay.toml:2: storage.compression_level: must be 1..19, got 20"},
      {"", {{"RELAY_STORAGE_COMPRESSION_LEVEL", "-1"}},
       "environment RELAY_STORAGE_COMPRESSION_LEVEL: storage.compression_level: must be 1..19, got -1"},
      {"[storage]\ncompression_level = \"3\"\n", {},
       R"(relay.toml:2: storage.compression_level: expected an integer, got "3")"},
      // compression_types: type/subtype, subtype may be '*'.
      {"[storage]\ncompression_types = [\"text/*\", \"html\"]\n", {},
       R"(relay.toml:2: storage.compression_types: expected media types like "text/html" or "text/*", got "html" at index 1)"},
      {"[storage]\ncompression_types = [\"*/*\"]\n", {}, "relay.toml:2: storage.compression_types"},
      {"[storage]\ncompression_types = [\"text/\"]\n", {}, "relay.toml:2: storage.compression_types"},
      {"[storage]\ncompression_types = [\"/html\"]\n", {}, "relay.toml:2: storage.compression_types"},
      {"[storage]\ncompression_types = [\"text/ht*\"]\n", {}, "relay.toml:2: storage.compression_types"},
      {"[storage]\ncompression_types = [\"text/html; charset=utf-8\"]\n", {},
       "relay.toml:2: storage.compression_types"},
      {"[storage]\ncompression_types = [\"text/html/x\"]\n", {}, "relay.toml:2: storage.compression_types"},
      {"[storage]\ncompression_types = [\"\"]\n", {}, "relay.toml:2: storage.compression_types"},
      {"[storage]\ncompression_types = \"text/*\"\n", {},
       "relay.toml:2: storage.compression_types: expected an array of strings"},
      {"", {{"RELAY_STORAGE_COMPRESSION_TYPES", "text/*, json"}},
       R"(environment RELAY_STORAGE_COMPRESSION_TYPES: storage.compression_types: expected media types like "text/html" or "text/*", got "json" at index 1)"},
      {"[storage]\ncompression_min_size = -1\n", {}, "relay.toml:2: storage.compression_min_size: expected a size"},
      // [storage.disk]
      {"[storage.disk]\npath = \"\"\n", {}, "relay.toml:2: storage.disk.path: must not be empty"},
      {"", {{"RELAY_STORAGE_DISK_PATH", ""}},
       "environment RELAY_STORAGE_DISK_PATH: storage.disk.path: must not be empty"},
      {"[storage.disk]\nio_threads = 0\n", {}, "relay.toml:2: storage.disk.io_threads: must be 1..64, got 0"},
      {"[storage.disk]\nio_threads = 65\n", {}, "relay.toml:2: storage.disk.io_threads: must be 1..64, got 65"},
      {"", {{"RELAY_STORAGE_DISK_IO_THREADS", "100"}},
       "environment RELAY_STORAGE_DISK_IO_THREADS: storage.disk.io_threads: must be 1..64"},
      {"[storage.disk]\nmax_size = \"huge\"\n", {},
       R"(relay.toml:2: storage.disk.max_size: expected a size like "64MiB", got "huge")"},
      {"[storage.disk]\nmin_free_space = -5\n", {}, "relay.toml:2: storage.disk.min_free_space: expected a size"},
      {"[storage.disk]\npth = \"/x\"\n", {}, "relay.toml:2: storage.disk.pth: unknown key"},
      {"[storage.dsk]\n", {}, "relay.toml:1: storage.dsk: unknown table"},
      {"[storage]\ndisk = \"/x\"\n", {}, R"(relay.toml:2: storage.disk: expected a table, got "/x")"},
      // [storage.redis]
      {"[storage.redis]\nurl = \"http://cache:6379\"\n", {},
       "relay.toml:2: storage.redis.url: expected redis://[:password@]host[:port][/db] with port 1..65535 and db "
       R"(0..2147483647, got "http://cache:6379")"},
      {"", {{"RELAY_STORAGE_REDIS_URL", "cache:6379"}},
       "environment RELAY_STORAGE_REDIS_URL: storage.redis.url: expected redis://"},
      {"[storage.redis]\nurl = \"redis://\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://:6379\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h:0\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h:65536\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h:\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h:port\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h/-1\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h/one\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h/\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h/0?timeout=1\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://h h:6379\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://::1:6379\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://[::1\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://[]:6379\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://@h\"\n", {}, "relay.toml:2: storage.redis.url"},
      {"[storage.redis]\nurl = \"redis://:@h\"\n", {}, "relay.toml:2: storage.redis.url"},
      // Past what Redis's SELECT takes: refused at load, not when the store connects.
      {"[storage.redis]\nurl = \"redis://h/2147483648\"\n", {}, "relay.toml:2: storage.redis.url"},
      // The form is [:password@]; and a password never appears in the message.
      {"[storage.redis]\nurl = \"redis://admin:hunter2@h:6379/0\"\n", {},
       R"(relay.toml:2: storage.redis.url: expected redis://[:password@]host[:port][/db] with port 1..65535 and db 0..2147483647, got "redis://admin:***@h:6379/0")"},
      {"[storage.redis]\nurl = \"redis://:hunter2@h:99999\"\n", {}, R"(got "redis://:***@h:99999")"},
      {"[storage.redis]\nconnect_timeout = 0\n", {},
       "relay.toml:2: storage.redis.connect_timeout: must be greater than 0"},
      {"", {{"RELAY_STORAGE_REDIS_COMMAND_TIMEOUT", "0ms"}},
       "environment RELAY_STORAGE_REDIS_COMMAND_TIMEOUT: storage.redis.command_timeout: must be greater than 0"},
      {"[storage.redis]\ncommand_timeout = \"soon\"\n", {},
       R"(relay.toml:2: storage.redis.command_timeout: expected a duration like "30s", got "soon")"},
      {"[storage.redis]\nchunk_size = 4095\n", {},
       "relay.toml:2: storage.redis.chunk_size: must be at least 4KiB, got 4095"},
      {"", {{"RELAY_STORAGE_REDIS_CHUNK_SIZE", "1K"}},
       "environment RELAY_STORAGE_REDIS_CHUNK_SIZE: storage.redis.chunk_size: must be at least 4KiB, got 1024"},
      {"[storage.redis]\nkey_prefix = 5\n", {}, "relay.toml:2: storage.redis.key_prefix: expected a string, got 5"},
  });
  // Keys of the backend not in use are validated too.
  CHECK(load_error("[storage]\nbackend = \"memory\"\n[storage.redis]\nurl = \"x\"\n")
            .find("relay.toml:4: storage.redis.url") != std::string::npos);
  // The boundaries and forms that are valid.
  for (const std::string url :
       {"redis://h", "redis://h:1", "redis://h:65535/0", "redis://127.0.0.1:6379/15", "redis://[::1]:6379/0",
        "redis://[::1]", "redis://:p@ss/w0rd@cache.internal:6380/3", "redis://my-redis_1.svc/2147483647"}) {
    CAPTURE(url);
    CHECK(load_defaults({{"RELAY_STORAGE_REDIS_URL", url}}).storage.redis.url.text == url);
  }
  for (const std::string tier : {"none", "memory+disk", "memory+redis"}) {
    CAPTURE(tier);
    // backend = "memory" (the default) with any tier.
    CHECK(name_of(load_defaults({{"RELAY_STORAGE_TIER", tier}}).storage.tier) == tier);
  }
  CHECK(load("[storage]\ntier = \"memory+disk\"\nbackend = \"disk\"\n").storage.backend == StorageBackend::Disk);
  CHECK(load("[storage]\ntier = \"none\"\nbackend = \"redis\"\n").storage.backend == StorageBackend::Redis);
  CHECK(load("[storage]\ncompression_level = 1\n").storage.compression_level == 1);
  CHECK(load("[storage]\ncompression_level = 19\n").storage.compression_level == 19);
  CHECK(load("[storage.disk]\nio_threads = 64\n").storage.disk.io_threads == 64);
  CHECK(load("[storage.redis]\nchunk_size = \"4KiB\"\n").storage.redis.chunk_size == 4096);
  CHECK(load("[storage.redis]\ncommand_timeout = \"1ms\"\n").storage.redis.command_timeout == 1ms);
  CHECK(load("[storage]\ncompression_types = [\"Text/HTML\", \"application/vnd.api+json\", \"font/*\"]\n")
            .storage.compression_types.size() == 3);
}

TEST_CASE("config: [[cache.rules]] parse in file order with every field and their lines") {
  const auto c = load(R"([cache]
default_ttl = "10s"

[[cache.rules]]
path = "/static/*"
ttl = "1d"
default_ttl = 60
stale_while_revalidate = "30s"
stale_if_error = "1h"
ignore_params = ["v", "utm_*"]
key_headers = ["Accept-Encoding"]

# the second rule
[[cache.rules]]
path = "/api/*"
bypass = true

[[cache.rules]]
path = "*.json"
ignore_params = []

[storage]
max_size = "1MiB"
)");
  REQUIRE(c.cache.rules.size() == 3);
  const auto& a = c.cache.rules[0];
  CHECK(a.path == "/static/*");
  CHECK(a.ttl == Duration(24h));
  CHECK(a.default_ttl == Duration(60s));
  CHECK(a.stale_while_revalidate == Duration(30s));
  CHECK(a.stale_if_error == Duration(1h));
  CHECK_FALSE(a.bypass);
  CHECK(a.ignore_params == std::vector<std::string>{"v", "utm_*"});
  CHECK(a.key_headers == std::vector<std::string>{"Accept-Encoding"});
  CHECK(a.line == 4);
  const auto& b = c.cache.rules[1];
  CHECK(b.path == "/api/*");
  CHECK(b.bypass);
  CHECK_FALSE(b.ttl.has_value());
  CHECK_FALSE(b.default_ttl.has_value());
  CHECK_FALSE(b.stale_while_revalidate.has_value());
  CHECK_FALSE(b.stale_if_error.has_value());
  CHECK_FALSE(b.ignore_params.has_value());
  CHECK_FALSE(b.key_headers.has_value());
  CHECK(b.line == 14);
  const auto& d = c.cache.rules[2];
  CHECK(d.path == "*.json");
  // An empty list is an override too (keep every parameter), unlike an absent one.
  REQUIRE(d.ignore_params.has_value());
  CHECK(d.ignore_params->empty());
  CHECK(d.line == 18);
  // The sections around the rules are still read.
  CHECK(c.cache.default_ttl == 10s);
  CHECK(c.storage.max_size == 1ull << 20);
  // Env overrides of other keys leave the rules alone.
  CHECK(load("[[cache.rules]]\npath = \"/\"\n", {{"RELAY_CACHE_DEFAULT_TTL", "5s"}}).cache.rules.size() == 1);
}

TEST_CASE("config: [[cache.rules]] inline forms") {
  const auto c = load(R"([cache]
rules = [
  { path = "/a", ttl = 5 },
  { path = "/b", bypass = true },
]
)");
  REQUIRE(c.cache.rules.size() == 2);
  CHECK(c.cache.rules[0].path == "/a");
  CHECK(c.cache.rules[0].ttl == Duration(5s));
  CHECK(c.cache.rules[0].line == 3);
  CHECK(c.cache.rules[1].bypass);
  CHECK(c.cache.rules[1].line == 4);
  CHECK(load("[cache]\nrules = []\n").cache.rules.empty());
}

TEST_CASE("config: max_object_size unset follows the backend's size") {
  CHECK(load("").cache.max_object_size == 64ull << 20);
  CHECK(load("[storage]\nmax_size = \"1GiB\"\n").cache.max_object_size == 256ull << 20);
  CHECK(load("[storage]\nbackend = \"disk\"\n").cache.max_object_size == 128ull << 20);
  CHECK(load("[storage]\nbackend = \"disk\"\n[storage.disk]\nmax_size = \"100GiB\"\n").cache.max_object_size ==
        (100ull << 30) / 8);
  CHECK(load("[storage]\nbackend = \"redis\"\n").cache.max_object_size == 256ull << 20);
  CHECK(load("[storage]\nbackend = \"disk\"\ntier = \"memory+disk\"\n").cache.max_object_size == 128ull << 20);
  // Set by the operator, from the file or the environment: as given.
  CHECK(load("[cache]\nmax_object_size = \"5MiB\"\n[storage]\nbackend = \"disk\"\n").cache.max_object_size ==
        5ull << 20);
  CHECK(load("[storage]\nbackend = \"disk\"\n", {{"RELAY_CACHE_MAX_OBJECT_SIZE", "1MiB"}}).cache.max_object_size ==
        1ull << 20);
}

TEST_CASE("config: a rule's status, negative_ttl, immutable and honour_client_no_cache") {
  const auto c = load(R"([cache]
negative_ttl = "30s"

[[cache.rules]]
path = "/pool/*"
name = "pool"
ttl = "30d"
status = [200, 206, "301"]
negative_ttl = "5m"
immutable = true

[[cache.rules]]
path = "/dists/*"
honour_client_no_cache = false
heuristic_max = "1h"
max_object_size = "2GiB"
targeted_fields = ["Mirror-Cache-Control"]
coalesce = false
)");
  CHECK(c.cache.negative_ttl == Duration(30s));
  CHECK(Config{}.cache.negative_ttl == Duration(60s));
  REQUIRE(c.cache.rules.size() == 2);
  const auto& pool = c.cache.rules[0];
  CHECK(pool.name == "pool");
  CHECK_FALSE(c.cache.rules[1].name.has_value());
  CHECK(pool.status == std::vector<std::string>{"200", "206", "301"});
  CHECK(pool.status_codes == std::vector<int>{200, 206, 301});
  CHECK(pool.negative_ttl == Duration(5min));
  CHECK(pool.immutable == true);
  CHECK_FALSE(pool.honour_client_no_cache.has_value());
  CHECK(c.cache.rules[1].honour_client_no_cache == false);
  CHECK(c.cache.rules[1].heuristic_max == Duration(1h));
  CHECK(relay::cache::resolve_rule(c.cache, "/dists/x").policy.heuristic_max == std::chrono::seconds(3600));
  CHECK(relay::cache::resolve_rule(c.cache, "/other").policy.heuristic_max == std::chrono::seconds(86400));
  CHECK(c.cache.rules[1].max_object_size == 2ull << 30);
  CHECK(relay::cache::resolve_rule(c.cache, "/dists/x").policy.max_object_size == 2ull << 30);
  CHECK(relay::cache::resolve_rule(c.cache, "/other").policy.max_object_size == c.cache.max_object_size);
  CHECK_FALSE(pool.max_object_size.has_value());
  const auto dists = relay::cache::resolve_rule(c.cache, "/dists/x");
  CHECK(dists.policy.targeted_fields == std::vector<std::string>{"Mirror-Cache-Control"});
  CHECK_FALSE(dists.coalesce);
  CHECK(relay::cache::resolve_rule(c.cache, "/pool/x").coalesce);
  CHECK_FALSE(c.cache.rules[1].status.has_value());
  check_errors({
      {"[[cache.rules]]\npath = \"/a\"\nstatus = [200, 99]\n", {},
       "relay.toml:3: cache.rules[1].status: expected status codes from 100 to 599, got 99 at index 1"},
      {"[[cache.rules]]\npath = \"/a\"\nstatus = [\"2xx\"]\n", {},
       "relay.toml:3: cache.rules[1].status: expected status codes from 100 to 599, got \"2xx\" at index 0"},
      {"[[cache.rules]]\npath = \"/a\"\nstatus = 200\n", {},
       "relay.toml:3: cache.rules[1].status: expected an array of status codes like [200, 404], got 200"},
      {"[[cache.rules]]\npath = \"/a\"\nimmutable = \"yes\"\n", {},
       "relay.toml:3: cache.rules[1].immutable: expected a boolean"},
  });
}

TEST_CASE("config: [[cache.rules]] errors name the rule (from 1) and the line") {
  check_errors({
      // Unknown keys and tables inside a rule.
      {"[[cache.rules]]\npath = \"/a\"\n\n[[cache.rules]]\npath = \"/b\"\nttll = \"5s\"\n", {},
       "relay.toml:6: cache.rules[2].ttll: unknown key"},
      {"[[cache.rules]]\npath = \"/a\"\n[cache.rules.extra]\n", {},
       "relay.toml:3: cache.rules[1].extra: unknown table"},
      {"[[cache.rules]]\npath = \"/a\"\n\"ttl\" = 5\nkey.headers = []\n", {},
       "relay.toml:4: cache.rules[1].key: unknown table"},
      // Missing or bad path.
      {"[[cache.rules]]\npath = \"/a\"\n\n[[cache.rules]]\nttl = \"5s\"\n", {},
       R"(relay.toml:4: cache.rules[2]: missing required key "path")"},
      {"[[cache.rules]]\npath = \"static/*\"\n", {},
       R"(relay.toml:2: cache.rules[1].path: must start with '/' or '*', got "static/*")"},
      {"[[cache.rules]]\npath = \"\"\n", {}, "relay.toml:2: cache.rules[1].path: must start with '/' or '*'"},
      // Wrong types, through the same messages as the sections.
      {"[[cache.rules]]\npath = 5\n", {}, "relay.toml:2: cache.rules[1].path: expected a string, got 5"},
      {"[[cache.rules]]\npath = \"/a\"\n\nttl = \"soon\"\n", {},
       R"(relay.toml:4: cache.rules[1].ttl: expected a duration like "30s", got "soon")"},
      {"[[cache.rules]]\npath = \"/a\"\ndefault_ttl = -1\n", {},
       "relay.toml:3: cache.rules[1].default_ttl: expected a duration"},
      {"[[cache.rules]]\npath = \"/a\"\nbypass = \"yes\"\n", {},
       R"(relay.toml:3: cache.rules[1].bypass: expected a boolean, got "yes")"},
      {"[[cache.rules]]\npath = \"/a\"\nkey_headers = \"Accept\"\n", {},
       "relay.toml:3: cache.rules[1].key_headers: expected an array of strings"},
      {"[[cache.rules]]\npath = \"/a\"\nignore_params = [\"a\", 1]\n", {},
       "relay.toml:3: cache.rules[1].ignore_params: expected an array of strings, got 1 at index 1"},
      // cache.rules itself must be an array of tables.
      {"[cache.rules]\npath = \"/a\"\n", {},
       "relay.toml:1: cache.rules: expected an array of tables ([[cache.rules]]), got a table"},
      {"[cache]\nrules = \"/a\"\n", {},
       R"(relay.toml:2: cache.rules: expected an array of tables ([[cache.rules]]), got "/a")"},
      {"[cache]\nrules = [\n  { path = \"/a\" },\n  \"/b\",\n]\n", {},
       R"(relay.toml:4: cache.rules[2]: expected a table ([[cache.rules]]), got "/b")"},
      {"[cache]\nrules = [[\"/a\"]]\n", {},
       "relay.toml:2: cache.rules[1]: expected a table ([[cache.rules]]), got an array"},
  });
}

TEST_CASE("config: [[cache.rules]] cannot come from the environment") {
  for (const std::string name : {"RELAY_CACHE_RULES", "RELAY_CACHE_RULES_0_PATH", "RELAY_CACHE_RULES_TTL"}) {
    CAPTURE(name);
    const auto msg = load_error("[[cache.rules]]\npath = \"/a\"\n", {{name, "/x"}});
    CHECK(msg.find("environment " + name + ": cache.rules can only be set in the config file") !=
          std::string::npos);
  }
}

TEST_CASE("config: load_from_file names an unreadable path") {
  const auto msg = error_of([] { load_from_file("/nonexistent/relay-config-test.toml", {}); });
  CHECK(msg.find("/nonexistent/relay-config-test.toml") != std::string::npos);
  CHECK(error_of([] { load_from_file("/", {}); }).find("/: cannot read") != std::string::npos);
}

TEST_CASE("config: the shipped relay.example.toml loads and matches the defaults") {
  const std::string path = RELAY_SOURCE_ROOT "/relay.example.toml";
  Config c;
  REQUIRE_NOTHROW(c = load_from_file(path, {}));
  check_same(c, Config{});
}

TEST_CASE("config: the commented [[cache.rules]] example in relay.example.toml is valid") {
  std::ifstream in(RELAY_SOURCE_ROOT "/relay.example.toml");
  REQUIRE(in);
  // From the first commented "[[cache.rules]]" to the next uncommented line.
  std::string rules;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "# [[cache.rules]]") inside = true;
    if (!inside) continue;
    if (!line.starts_with('#')) break;
    rules += line.substr(std::min<std::size_t>(line.size(), 2)) + "\n";
  }
  Config c;
  REQUIRE_NOTHROW(c = load(rules));
  REQUIRE(c.cache.rules.size() == 2);
  CHECK(c.cache.rules[0].ttl.has_value());
  CHECK(c.cache.rules[1].bypass);
}

TEST_CASE("config: [cache.coalesce] keys from TOML and the environment") {
  const auto defaults = load("");
  CHECK(defaults.cache.coalesce.enabled);
  CHECK(defaults.cache.coalesce.follower_timeout == std::chrono::seconds(30));
  CHECK(defaults.cache.coalesce.max_fill_age == std::chrono::seconds(60));
  CHECK(defaults.cache.coalesce.hit_for_miss == std::chrono::seconds(10));

  const auto c = load(R"([cache.coalesce]
enabled = false
follower_timeout = "5s"
max_fill_age = "2m"
hit_for_miss = "500ms"
)");
  CHECK_FALSE(c.cache.coalesce.enabled);
  CHECK(c.cache.coalesce.follower_timeout == std::chrono::seconds(5));
  CHECK(c.cache.coalesce.max_fill_age == std::chrono::minutes(2));
  CHECK(c.cache.coalesce.hit_for_miss == std::chrono::milliseconds(500));

  const auto e = load("[cache.coalesce]\nenabled = false\n", {{"RELAY_CACHE_COALESCE_ENABLED", "true"},
                                                               {"RELAY_CACHE_COALESCE_FOLLOWER_TIMEOUT", "7s"}});
  CHECK(e.cache.coalesce.enabled);
  CHECK(e.cache.coalesce.follower_timeout == std::chrono::seconds(7));

  CHECK(defaults.cache.coalesce.distributed);
  CHECK(defaults.cache.coalesce.degraded == DegradedMode::Local);
  CHECK(load("[cache.coalesce]\ndegraded = \"fail-open\"\ndistributed = false\n").cache.coalesce.degraded ==
        DegradedMode::FailOpen);
  CHECK_THROWS_WITH_AS(load("[cache.coalesce]\ndegraded = \"panic\"\n"), doctest::Contains("cache.coalesce.degraded"),
                       relay::config::ConfigError);
  CHECK_THROWS_WITH_AS(load("[cache.coalesce]\nfollower_timeot = \"1s\"\n"),
                       doctest::Contains("cache.coalesce.follower_timeot"), relay::config::ConfigError);
}

TEST_CASE("config: [maintenance] keys from TOML and the environment, and their errors") {
  const auto defaults = load("");
  CHECK(defaults.maintenance.interval == std::chrono::minutes(5));
  CHECK(defaults.maintenance.lock == MaintenanceLock::None);

  const auto c = load("[maintenance]\ninterval = \"1s\"\nlock = \"redis\"\n");
  CHECK(c.maintenance.interval == std::chrono::seconds(1));
  CHECK(c.maintenance.lock == MaintenanceLock::Redis);
  CHECK(load("[maintenance]\ninterval = 0\n").maintenance.interval.count() == 0);

  const auto e = load("", {{"RELAY_MAINTENANCE_INTERVAL", "250ms"}, {"RELAY_MAINTENANCE_LOCK", "redis"}});
  CHECK(e.maintenance.interval == std::chrono::milliseconds(250));
  CHECK(e.maintenance.lock == MaintenanceLock::Redis);

  check_errors({
      {"[maintenance]\nlock = \"zookeeper\"\n", {},
       "relay.toml:2: maintenance.lock: expected none or redis, got \"zookeeper\""},
      {"[maintenance]\n\ninterval = \"50ms\"\n", {},
       "relay.toml:3: maintenance.interval: must be 0 (off) or at least 100ms, got 50ms"},
      {"[maintenance]\ninterval = true\n", {}, "relay.toml:2: maintenance.interval: expected a duration"},
      {"", {{"RELAY_MAINTENANCE_INTERVAL", "soon"}}, "environment RELAY_MAINTENANCE_INTERVAL: expected a duration"},
      {"[maintenance]\nintreval = \"1s\"\n", {}, "relay.toml:2: maintenance.intreval: unknown key"},
  });
}

TEST_CASE("config: server.max_body_size defaults to 0 (no limit) and takes sizes") {
  CHECK(load("").server.max_body_size == 0);
  CHECK(load("[server]\nmax_body_size = \"1KiB\"\n").server.max_body_size == 1024);
  CHECK(load("[server]\nmax_body_size = 5000\n").server.max_body_size == 5000);
}

TEST_CASE("config: RELAY_SERVER_MAX_BODY_SIZE beats the file") {
  const auto c = load("[server]\nmax_body_size = \"1KiB\"\n", {{"RELAY_SERVER_MAX_BODY_SIZE", "2MiB"}});
  CHECK(c.server.max_body_size == 2u << 20);
}

TEST_CASE("config: a bad server.max_body_size names the key and line") {
  CHECK(load_error("[server]\n\nmax_body_size = -1\n") ==
        "relay.toml:3: server.max_body_size: expected a size like \"64MiB\", got -1");
  CHECK(load_error("[server]\nmax_body_size = \"big\"\n") ==
        R"(relay.toml:2: server.max_body_size: expected a size like "64MiB", got "big")");
  CHECK(load_error("", {{"RELAY_SERVER_MAX_BODY_SIZE", "lots"}}) ==
        R"(environment RELAY_SERVER_MAX_BODY_SIZE: expected a size like "64MiB", got "lots")");
}

TEST_CASE("config: Redis Sentinel needs both sentinels and master_name, each sentinel host:port") {
  const auto c = load("[storage.redis]\nsentinels = [\"10.0.0.1:26379\", \"[::1]:26380\"]\nmaster_name = \"edge\"\n");
  CHECK(c.storage.redis.sentinels == std::vector<std::string>{"10.0.0.1:26379", "[::1]:26380"});
  CHECK(c.storage.redis.master_name == "edge");
  CHECK(relay::test::config_load_error("[storage.redis]\nsentinels = [\"10.0.0.1:26379\"]\n").find("storage.redis.master_name") !=
        std::string::npos);
  CHECK(relay::test::config_load_error("[storage.redis]\nmaster_name = \"edge\"\n").find("storage.redis.sentinels") !=
        std::string::npos);
  for (const char* bad : {"10.0.0.1", "10.0.0.1:0", "10.0.0.1:99999", ":26379", "host:port"}) {
    CAPTURE(bad);
    const auto error = relay::test::config_load_error(std::string("[storage.redis]\nmaster_name = \"m\"\nsentinels = [\"") +
                                               bad + "\"]\n");
    CHECK(error.find("storage.redis.sentinels") != std::string::npos);
  }
}
