// The admin listener's pure parts: CIDR allowlists (src/admin/cidr.cpp) and
// the [admin] / metrics.listen keys (src/config/admin.cpp): defaults, the
// environment, validation messages with file:line, and --print-config.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "config_errors.hpp"
#include "relay/admin/cidr.hpp"
#include "relay/config/config.hpp"
#include "relay/config/print.hpp"
#include "relay/config/schema.hpp"

using namespace relay::config;
using relay::admin::Allowlist;
using relay::admin::Cidr;
using relay::admin::IpAddress;

namespace {

std::string load_error(const std::string& toml, const Environment& env = {}) {
  try {
    load_from_string(toml, "relay.toml", env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

using relay::test::load;

std::string cidr_error(const std::string& text) {
  try {
    Cidr::parse(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// A file under the temporary directory, removed at scope exit.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content, const std::string& name) : path("/tmp/relay-unit-" + name) {
    std::ofstream(path) << content;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("cidr: IPv4 blocks match the addresses inside them only") {
  const Allowlist list({"10.0.0.0/8", "192.168.1.7", "172.16.0.0/12"});
  CHECK(list.allows("10.0.0.1"));
  CHECK(list.allows("10.255.255.255"));
  CHECK_FALSE(list.allows("11.0.0.0"));
  CHECK(list.allows("192.168.1.7"));
  CHECK_FALSE(list.allows("192.168.1.8"));
  CHECK(list.allows("172.31.255.1"));
  CHECK_FALSE(list.allows("172.32.0.1"));
  CHECK_FALSE(list.allows("::1"));
}

TEST_CASE("cidr: IPv6 blocks, and IPv4-mapped addresses match as IPv4") {
  const Allowlist list({"::1/128", "fd00::/8", "127.0.0.0/8"});
  CHECK(list.allows("::1"));
  CHECK_FALSE(list.allows("::2"));
  CHECK(list.allows("fd12:3456::1"));
  CHECK_FALSE(list.allows("fe80::1"));
  CHECK(list.allows("::ffff:127.0.0.1"));  // a dual-stack socket's view of an IPv4 client
  CHECK_FALSE(list.allows("::ffff:10.0.0.1"));
  // A block written IPv4-mapped is the IPv4 block it carries.
  CHECK(Allowlist({"::ffff:10.0.0.0/104"}).allows("10.1.2.3"));
}

TEST_CASE("cidr: /0 matches its whole family, and bad client addresses never match") {
  CHECK(Allowlist({"0.0.0.0/0"}).allows("203.0.113.9"));
  CHECK_FALSE(Allowlist({"0.0.0.0/0"}).allows("2001:db8::1"));
  CHECK(Allowlist({"::/0"}).allows("2001:db8::1"));
  CHECK_FALSE(Allowlist({"0.0.0.0/0"}).allows(""));
  CHECK_FALSE(Allowlist({"0.0.0.0/0"}).allows("not an address"));
  CHECK_FALSE(Allowlist().allows("127.0.0.1"));
}

TEST_CASE("cidr: prefix lengths at the byte boundaries and between them") {
  const IpAddress inside = *IpAddress::parse("10.1.128.1");
  CHECK(Cidr::parse("10.1.128.0/17").contains(inside));
  CHECK_FALSE(Cidr::parse("10.1.0.0/17").contains(inside));
  CHECK(Cidr::parse("10.1.0.0/16").contains(inside));
  CHECK(Cidr::parse("2001:db8::/32").contains(*IpAddress::parse("2001:db8:ffff::1")));
  CHECK_FALSE(Cidr::parse("2001:db8::/33").contains(*IpAddress::parse("2001:db8:ffff::1")));
}

TEST_CASE("cidr: bad blocks are refused with a reason") {
  CHECK(cidr_error("10.0.0.0/8").empty());
  CHECK(cidr_error("10.0.0.1/8") ==
        "\"10.0.0.1/8\" has bits set past its prefix length; did you mean \"10.0.0.0/8\"?");
  CHECK(cidr_error("10.0.0.0/33").find("prefix length 0..32") != std::string::npos);
  CHECK(cidr_error("::/129").find("prefix length 0..128") != std::string::npos);
  CHECK(cidr_error("10.0.0.0/").find("prefix length") != std::string::npos);
  CHECK(cidr_error("10.0.0.0/x").find("prefix length") != std::string::npos);
  CHECK(cidr_error("localhost").find("expected an IP address or a CIDR block") != std::string::npos);
  CHECK(cidr_error("").find("expected an IP address") != std::string::npos);
  CHECK(cidr_error("300.0.0.0/8").find("expected an IP address") != std::string::npos);
  CHECK_THROWS_WITH_AS(Allowlist({"127.0.0.0/8", "nope"}), doctest::Contains("at index 1"), std::invalid_argument);
}

TEST_CASE("config: [admin] and metrics.listen defaults") {
  const auto c = load("");
  REQUIRE(c.admin.listen.address.has_value());
  CHECK(c.admin.listen.address->address == "127.0.0.1");
  CHECK(c.admin.listen.address->port == 9091);
  CHECK(c.admin.token.empty());
  CHECK(c.admin.token_file.empty());
  CHECK(c.admin.allow == std::vector<std::string>{"127.0.0.0/8", "::1/128"});
  CHECK(c.metrics.listen.on == MetricsListen::On::Admin);
  CHECK(admin_token(c.admin).empty());
}

TEST_CASE("config: [admin] keys from the file and the environment") {
  const auto c = load("[admin]\nlisten = \"\"\ntoken = \"s3cret\"\nallow = [\"10.0.0.0/8\"]\n"
                      "[metrics]\nlisten = \"public\"\n");
  CHECK_FALSE(c.admin.listen.address.has_value());
  CHECK(admin_token(c.admin) == "s3cret");
  CHECK(c.metrics.listen.on == MetricsListen::On::Public);

  const auto e = load("", {{"RELAY_ADMIN_LISTEN", "[::1]:9999"},
                           {"RELAY_ADMIN_ALLOW", "::1/128, 192.168.0.0/16"},
                           {"RELAY_ADMIN_TOKEN", "abc"},
                           {"RELAY_METRICS_LISTEN", "127.0.0.1:9102"}});
  REQUIRE(e.admin.listen.address.has_value());
  CHECK(e.admin.listen.address->address == "::1");
  CHECK(e.admin.listen.address->port == 9999);
  CHECK(e.admin.allow == std::vector<std::string>{"::1/128", "192.168.0.0/16"});
  CHECK(e.admin.token == "abc");
  CHECK(e.metrics.listen.on == MetricsListen::On::Own);
  CHECK(e.metrics.listen.address.port == 9102);
  // The environment turns the admin listener off too.
  CHECK_FALSE(load("", {{"RELAY_ADMIN_LISTEN", ""}}).admin.listen.address.has_value());
}

TEST_CASE("config: admin.token_file holds the token, surrounding whitespace ignored") {
  const TempFile file("  tok-123\n", "admin-token");
  const auto c = load("[admin]\ntoken_file = \"" + file.path + "\"\n");
  CHECK(admin_token(c.admin) == "tok-123");
}

TEST_CASE("config: bad [admin] values name the key and the line") {
  const TempFile empty("\n", "admin-token-empty");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[admin]\nlisten = \"127.0.0.1\"\n",
       "relay.toml:2: admin.listen: expected host:port or [v6]:port with port 1..65535, got \"127.0.0.1\""},
      {"[admin]\nlisten = \"example.com:9091\"\n", "relay.toml:2: admin.listen: expected an IP address"},
      {"[admin]\n\nallow = [\"127.0.0.0/8\", \"10.0.0.1/8\"]\n",
       "relay.toml:3: admin.allow: \"10.0.0.1/8\" has bits set past its prefix length; did you mean \"10.0.0.0/8\"? "
       "at index 1"},
      {"[admin]\nallow = [\"everyone\"]\n", "relay.toml:2: admin.allow: expected an IP address or a CIDR block"},
      {"[admin]\ntoken = \"a\"\ntoken_file = \"/etc/relay/token\"\n",
       "relay.toml:3: admin.token_file: set admin.token or admin.token_file, not both"},
      {"[admin]\ntoken_file = \"/nonexistent/relay-token\"\n",
       "relay.toml:2: admin.token_file: cannot read \"/nonexistent/relay-token\""},
      {"[admin]\ntoken_file = \"" + empty.path + "\"\n", "relay.toml:2: admin.token_file: the token in \""},
      {"[admin]\ntoken = \"two words\"\n", "relay.toml:2: admin.token: the token must be visible ASCII"},
      {"[admin]\nlisten = \"127.0.0.1:8080\"\n",
       "relay.toml:2: admin.listen: is server.listen's address too (127.0.0.1:8080)"},
      {"[metrics]\nlisten = \"everywhere\"\n",
       "relay.toml:2: metrics.listen: expected \"\" (on the admin listener), \"public\" (on server.listen) or "
       "host:port"},
      {"[metrics]\nlisten = \"127.0.0.1:9091\"\n",
       "relay.toml:2: metrics.listen: is admin.listen's address too (127.0.0.1:9091): use \"\""},
      {"[metrics]\nlisten = \"127.0.0.1:8080\"\n",
       "relay.toml:2: metrics.listen: is server.listen's address too (127.0.0.1:8080): use \"public\""},
      {"[admin]\nlisten = 9091\n", "relay.toml:2: admin.listen: expected a string"},
      {"[metrics]\npath = \"/readyz\"\n",
       "relay.toml:2: metrics.path: \"/readyz\" is an admin endpoint; metrics are served on the admin listener"},
      {"[admin]\nlisen = \"\"\n", "relay.toml:2: admin.lisen: unknown key"},
  };
  for (const auto& [toml, want] : cases) {
    CAPTURE(toml);
    const auto got = load_error(toml);
    CHECK_MESSAGE(got.starts_with(want), got);
  }
  CHECK(load_error("", {{"RELAY_ADMIN_ALLOW", "nope"}}).starts_with("environment RELAY_ADMIN_ALLOW: admin.allow: "));
  // Metrics on the admin listener with the admin listener off: valid, metrics are then off.
  CHECK(load_error("[admin]\nlisten = \"\"\n[metrics]\nlisten = \"\"\n").empty());
}

TEST_CASE("print-config: the admin token is masked, the token file's path is not") {
  const TempFile file("from-file\n", "admin-token-print");
  auto loaded = load_with_sources("[admin]\ntoken = \"hunter2\"\n", "relay.toml", {});
  auto text = print_config(loaded);
  CHECK(text.find("hunter2") == std::string::npos);
  CHECK(text.find("token = \"***\"") != std::string::npos);
  loaded = load_with_sources("[admin]\ntoken_file = \"" + file.path + "\"\n", "relay.toml", {});
  text = print_config(loaded);
  CHECK(text.find("token_file = \"" + file.path + "\"") != std::string::npos);
  CHECK(text.find("from-file") == std::string::npos);
  CHECK_FALSE(is_secret_key("admin.token_file"));
  // The printed [admin] section loads back as it was.
  const auto again = load_from_string(print_config(load_with_sources("", "relay.toml", {})), "printed.toml", {});
  CHECK(again.admin.listen == AdminListen::parse("127.0.0.1:9091"));
  CHECK(again.admin.allow == AdminConfig{}.allow);
  CHECK(again.metrics.listen == MetricsListen{});
}

TEST_CASE("config: relay.example.toml documents [admin] and metrics.listen with their defaults") {
  const auto c = load_from_file(RELAY_SOURCE_ROOT "/relay.example.toml", {});
  const AdminConfig defaults;
  CHECK(c.admin.listen == defaults.listen);
  CHECK(c.admin.token == defaults.token);
  CHECK(c.admin.token_file == defaults.token_file);
  CHECK(c.admin.allow == defaults.allow);
  CHECK(c.metrics.listen == MetricsListen{});
}
