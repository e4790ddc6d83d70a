// relay --print-config: the printer (src/config/print.cpp) and the sources the
// loader records. Round trips go through load_with_sources and compare every
// key of the schema (key_values), so keys added later are covered too.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/config/print.hpp"
#include "relay/config/schema.hpp"

using namespace relay::config;
using namespace std::chrono_literals;

namespace {

// The line `key = ...` inside [table] (or a [[table]] entry, the nth from 0).
std::string line_in(const std::string& text, const std::string& header, const std::string& key, int nth = 0) {
  std::size_t at = 0;
  for (int i = 0; i <= nth; ++i) {
    at = text.find("\n" + header, at == 0 ? 0 : at + 1);
    if (at == std::string::npos) return "<no " + header + ">";
    // A header followed by a comment or a newline, never a longer table name.
    const char next = text[at + 1 + header.size()];
    if (next != ' ' && next != '\n') return "<no " + header + " alone>";
  }
  const auto end = text.find("\n[", at + 1);
  const auto k = text.find("\n" + key + " = ", at);
  if (k == std::string::npos || (end != std::string::npos && k > end))
    return "<no " + key + " in " + header + ">";
  return text.substr(k + 1, text.find('\n', k + 1) - k - 1);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.ends_with(tail);
}

void check_same_values(const std::vector<KeyValue>& a, const std::vector<KeyValue>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].path);
    CHECK(a[i].path == b[i].path);
    CHECK(a[i].kind == b[i].kind);
    CHECK(a[i].value == b[i].value);
  }
}

void check_same_config(const Config& a, const Config& b) {
  check_same_values(key_values(a), key_values(b));
  REQUIRE(a.cache.rules.size() == b.cache.rules.size());
  for (std::size_t i = 0; i < a.cache.rules.size(); ++i) {
    CAPTURE(i);
    check_same_values(key_values(a.cache.rules[i]), key_values(b.cache.rules[i]));
  }
}

// A file that sets some keys (with awkward values), rules, and environment
// overrides on top; no secrets, so it must round-trip exactly.
const std::string kFile = R"(# line 1
[server]
listen = "127.0.0.1:18080"
max_header_size = "32KiB"

[cache]
default_ttl = "1m"
max_object_size = 1000
strip_request_headers = []

[cache.key]
ignore_params = ["utm_*", "x\"y", "back\\slash"]

[[cache.rules]]
path = "/static/*"
ttl = "7d"
ignore_params = ["v"]

[[cache.rules]]
path = "/api/*"
bypass = true

[storage.disk]
path = "/tmp/relay cache \"quoted\"\ttab"
)";
const Environment kEnv = {
    {"RELAY_CACHE_DEFAULT_TTL", "1500ms"},
    {"RELAY_SERVER_THREADS", "3"},
    {"RELAY_STORAGE_MAX_SIZE", "18446744073709551615"},
    {"RELAY_CACHE_KEY_HEADERS", "Accept-Encoding, X-Device"},
    {"RELAY_STORAGE_REDIS_KEY_PREFIX", ""},
};

}  // namespace

TEST_CASE("print-config: durations and sizes use the loader's notation and read back unchanged") {
  const std::vector<std::pair<Duration, std::string>> durations = {
      {0ms, "0s"},  {250ms, "250ms"}, {1500ms, "1500ms"}, {30s, "30s"}, {90s, "90s"},
      {5min, "5m"}, {1h, "1h"},       {25h, "25h"},       {48h, "2d"},  {61001ms, "61001ms"},
  };
  for (const auto& [d, text] : durations) {
    CAPTURE(text);
    CHECK(format_duration(d) == text);
    CHECK(parse_duration(format_duration(d)) == d);
  }
  const std::vector<std::pair<std::uint64_t, std::string>> sizes = {
      {0, "0"},
      {1000, "1000"},
      {1024, "1KiB"},
      {1536, "1536"},
      {64ull << 20, "64MiB"},
      {3ull << 30, "3GiB"},
      {5ull << 40, "5TiB"},
      {18446744073709551615ull, "18446744073709551615"},
  };
  for (const auto& [n, text] : sizes) {
    CAPTURE(text);
    CHECK(format_size(n) == text);
    CHECK(parse_size(format_size(n)) == n);
  }
}

TEST_CASE("print-config: sources are recorded per key: default, file line, environment, rules") {
  const auto loaded = load_with_sources(kFile, "relay.toml", kEnv);
  CHECK(loaded.file == "relay.toml");
  CHECK(loaded.source_of("server.listen") == Source{Source::From::File, "relay.toml", 3});
  CHECK(loaded.source_of("server.idle_timeout") == Source{});
  // Set in the file and in the environment: the environment wins.
  CHECK(loaded.source_of("cache.default_ttl") ==
        Source{Source::From::Environment, "RELAY_CACHE_DEFAULT_TTL", 0});
  CHECK(loaded.source_of("cache.rules[1]") == Source{Source::From::File, "relay.toml", 14});
  CHECK(loaded.source_of("cache.rules[1].ttl") == Source{Source::From::File, "relay.toml", 16});
  CHECK(loaded.source_of("cache.rules[2].bypass") == Source{Source::From::File, "relay.toml", 21});
  CHECK(loaded.source_of("cache.rules[2].ttl") == Source{});
  CHECK(describe(loaded.source_of("server.listen")) == "relay.toml:3");
  CHECK(describe(loaded.source_of("server.threads")) == "environment RELAY_SERVER_THREADS");
  CHECK(load_defaults_with_sources({}).sources.empty());
  CHECK(load_defaults_with_sources({}).file.empty());
}

TEST_CASE("print-config: each value's comment names its source") {
  const auto text = print_config(load_with_sources(kFile, "relay.toml", kEnv));
  CAPTURE(text);
  CHECK(ends_with(line_in(text, "[server]", "listen"), "# relay.toml:3"));
  CHECK(line_in(text, "[server]", "listen").starts_with("listen = \"127.0.0.1:18080\""));
  CHECK(ends_with(line_in(text, "[server]", "threads"), "# env RELAY_SERVER_THREADS"));
  CHECK(ends_with(line_in(text, "[server]", "idle_timeout"), "# default"));
  CHECK(line_in(text, "[server]", "idle_timeout").starts_with("idle_timeout = \"1m\""));
  CHECK(line_in(text, "[cache]", "default_ttl").starts_with("default_ttl = \"1500ms\""));
  CHECK(ends_with(line_in(text, "[cache]", "default_ttl"), "# env RELAY_CACHE_DEFAULT_TTL"));
  CHECK(line_in(text, "[cache]", "max_object_size").starts_with("max_object_size = 1000 "));
  CHECK(line_in(text, "[server]", "max_header_size").starts_with("max_header_size = \"32KiB\""));
  CHECK(line_in(text, "[storage]", "max_size").starts_with("max_size = \"18446744073709551615\""));
  CHECK(line_in(text, "[cache.key]", "headers").starts_with(R"(headers = ["Accept-Encoding", "X-Device"])"));
  CHECK(line_in(text, "[[cache.rules]]", "path", 0).starts_with("path = \"/static/*\""));
  CHECK(ends_with(line_in(text, "[[cache.rules]]", "ttl", 0), "# relay.toml:16"));
  CHECK(ends_with(line_in(text, "[[cache.rules]]", "bypass", 0), "# default"));
  CHECK(ends_with(line_in(text, "[[cache.rules]]", "bypass", 1), "# relay.toml:21"));
  CHECK(text.find("[[cache.rules]]  # relay.toml:14, rule 1\n") != std::string::npos);
  CHECK(text.find("[[cache.rules]]  # relay.toml:19, rule 2\n") != std::string::npos);
  CHECK(text.find("then relay.toml, then RELAY_*") != std::string::npos);
  CHECK(text.find("***") == std::string::npos);
}

TEST_CASE("print-config: the output loads back to the same configuration, every key from the file") {
  const auto original = load_with_sources(kFile, "relay.toml", kEnv);
  const auto text = print_config(original);
  CAPTURE(text);
  LoadResult again;
  REQUIRE_NOTHROW(again = load_with_sources(text, "printed.toml", {}));
  check_same_config(original.config, again.config);
  // Every key of the schema was written out, each exactly once (a second
  // definition of a key is a TOML error, caught by the load above).
  for (const auto& kv : key_values(again.config)) {
    CAPTURE(kv.path);
    CHECK(again.source_of(kv.path).from == Source::From::File);
  }
  // And printing the reloaded config gives the same values and lines.
  const auto twice = print_config(again);
  CHECK(twice.find("printed.toml") != std::string::npos);
  check_same_config(load_from_string(twice, "twice.toml", {}), original.config);
}

TEST_CASE("print-config: defaults alone and the shipped relay.example.toml round-trip") {
  const auto defaults = load_defaults_with_sources({});
  const auto text = print_config(defaults);
  CHECK(text.find("then no config file, then RELAY_*") != std::string::npos);
  CHECK(text.find("# no [[cache.rules]]  # default") != std::string::npos);
  CHECK(ends_with(line_in(text, "[upstream]", "url"), "# default"));
  check_same_config(load_from_string(text, "printed.toml", {}), Config{});

  const std::string example = RELAY_SOURCE_ROOT "/relay.example.toml";
  const auto shipped = load_file_with_sources(example, {});
  const auto printed = print_config(shipped);
  CHECK(ends_with(line_in(printed, "[upstream]", "url"),
                  "relay.example.toml:" + std::to_string(shipped.source_of("upstream.url").line)));
  check_same_config(load_from_string(printed, "printed.toml", {}), shipped.config);
}

TEST_CASE("print-config: secrets are masked, and the header says so") {
  const auto loaded =
      load_with_sources("[storage.redis]\nurl = \"redis://:s3cr/et@@redis.internal:6380/2\"\n", "relay.toml",
                        {{"RELAY_UPSTREAM_URL", "https://deploy:hunter2@origin:8443/x"}});
  const auto text = print_config(loaded);
  CAPTURE(text);
  CHECK(text.find("s3cr") == std::string::npos);
  CHECK(text.find("hunter2") == std::string::npos);
  CHECK(line_in(text, "[storage.redis]", "url") ==
        "url = \"redis://:***@redis.internal:6380/2\"  # relay.toml:2 (masked)");
  CHECK(line_in(text, "[upstream]", "url").starts_with("url = \"https://deploy:***@origin:8443/x\""));
  CHECK(ends_with(line_in(text, "[upstream]", "url"), "# env RELAY_UPSTREAM_URL (masked)"));
  CHECK(text.find("# Secrets are printed as ***") != std::string::npos);
  // The masked output is still a valid file, just not the same secrets.
  const auto again = load_from_string(text, "printed.toml", {});
  CHECK(again.storage.redis.url.text == "redis://:***@redis.internal:6380/2");
}

TEST_CASE("print-config: what counts as a secret") {
  CHECK(is_secret_key("admin.token"));
  CHECK(is_secret_key("storage.redis.password"));
  CHECK(is_secret_key("auth.client_secret"));
  CHECK(is_secret_key("x.API_TOKEN"));
  CHECK_FALSE(is_secret_key("storage.redis.url"));
  CHECK_FALSE(is_secret_key("token.path"));  // only the key's own name counts

  const std::vector<std::pair<std::string, std::string>> urls = {
      {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
      {"redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"},
      {"redis://:p@ss/word@host", "redis://:***@host"},
      {"redis://:@host", "redis://:@host"},
      {"http://user:pw@origin/", "http://user:***@origin/"},
      {"http://origin:8080/a@b", "http://origin:8080/a@b"},
      {"https://user@origin/", "https://user@origin/"},
      {"not a url: x@y", "not a url: x@y"},
  };
  for (const auto& [in, out] : urls) {
    CAPTURE(in);
    CHECK(mask_url_password(in) == out);
  }
}
