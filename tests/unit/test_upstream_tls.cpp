// [upstream.tls]: its keys from the file and the environment, and the
// load-time checks of validate_upstream_tls() (files read now, errors
// naming key and line). The files are written to a private temporary
// directory; only their PEM markers matter to these checks.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir.hpp"
#include "config_errors.hpp"
#include "relay/config/config.hpp"

using namespace relay::config;

namespace {

constexpr const char* kCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
constexpr const char* kKey = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
constexpr const char* kEncryptedKey =
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----\n";

using relay::test::TempDir;

std::string tls_table(const std::string& body) { return "[upstream]\nurl = \"https://origin.test\"\n[upstream.tls]\n" + body; }

}  // namespace

TEST_CASE("upstream.tls: defaults verify with the system CAs, TLS 1.2 at least, no client certificate") {
  const UpstreamTls tls;
  CHECK(tls.verify);
  CHECK(tls.min_version == TlsVersion::V1_2);
  CHECK(tls.ca_file.empty());
  CHECK(tls.ca_path.empty());
  CHECK(tls.sni.empty());
  CHECK(tls.client_cert.empty());
  CHECK(tls.client_key.empty());
  CHECK_FALSE(validate_upstream_tls(tls).has_value());
  CHECK(upstream_tls_warnings(tls).empty());
  CHECK(load_defaults({}).upstream.tls == tls);
}

TEST_CASE("upstream.tls: every key from the file, and from RELAY_UPSTREAM_TLS_*") {
  TempDir dir;
  const auto ca = dir.file("ca.pem", kCert);
  const auto cert = dir.file("client.pem", kCert);
  const auto key = dir.file("client.key", kKey);
  dir.file("0a1b2c3d.0", kCert);
  const auto c = load_from_string(tls_table("ca_file = \"" + ca + "\"\nca_path = \"" + dir.path.string() +
                                            "\"\nverify = false\nsni = \"origin.test\"\nclient_cert = \"" + cert +
                                            "\"\nclient_key = \"" + key + "\"\nmin_version = \"1.3\"\n"),
                                  "relay.toml", {});
  CHECK(c.upstream.tls.ca_file == ca);
  CHECK(c.upstream.tls.ca_path == dir.path.string());
  CHECK_FALSE(c.upstream.tls.verify);
  CHECK(c.upstream.tls.sni == "origin.test");
  CHECK(c.upstream.tls.client_cert == cert);
  CHECK(c.upstream.tls.client_key == key);
  CHECK(c.upstream.tls.min_version == TlsVersion::V1_3);

  const auto env = load_defaults({{"RELAY_UPSTREAM_TLS_CA_FILE", ca},
                                  {"RELAY_UPSTREAM_TLS_VERIFY", "no"},
                                  {"RELAY_UPSTREAM_TLS_SNI", "api.origin.test"},
                                  {"RELAY_UPSTREAM_TLS_MIN_VERSION", "1.3"}});
  CHECK(env.upstream.tls.ca_file == ca);
  CHECK_FALSE(env.upstream.tls.verify);
  CHECK(env.upstream.tls.sni == "api.origin.test");
  CHECK(env.upstream.tls.min_version == TlsVersion::V1_3);
  // The environment beats a bad file value, as for every key.
  CHECK(load_from_string(tls_table("ca_file = \"/nonexistent/ca.pem\"\n"), "relay.toml",
                         {{"RELAY_UPSTREAM_TLS_CA_FILE", ca}})
            .upstream.tls.ca_file == ca);
}

TEST_CASE("upstream.tls: verify = false is warned about") {
  UpstreamTls tls;
  tls.verify = false;
  const auto warnings = upstream_tls_warnings(tls);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("verify = false") != std::string::npos);
}

TEST_CASE("upstream.tls: missing, unreadable or wrong files name the key and line") {
  TempDir dir;
  const auto key = dir.file("only.key", kKey);
  const auto cert = dir.file("cert.pem", kCert);
  const auto encrypted = dir.file("encrypted.key", kEncryptedKey);
  const auto empty_dir = (dir.path / "empty").string();
  std::filesystem::create_directory(empty_dir);
  struct Case {
    std::string body;
    std::string expected;
  };
  const Case cases[] = {
      {"ca_file = \"/nonexistent/ca.pem\"\n",
       "relay.toml:4: upstream.tls.ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory"},
      {"ca_file = \"" + dir.path.string() + "\"\n", "relay.toml:4: upstream.tls.ca_file: \"" + dir.path.string() +
                                                          "\" is not a regular file"},
      {"ca_file = \"" + key + "\"\n", "relay.toml:4: upstream.tls.ca_file: \"" + key + "\" holds no PEM certificate"},
      {"\n\nca_path = \"/nonexistent\"\n", "relay.toml:6: upstream.tls.ca_path: \"/nonexistent\" is not a directory"},
      {"ca_path = \"" + cert + "\"\n", "relay.toml:4: upstream.tls.ca_path: \"" + cert + "\" is not a directory"},
      {"ca_path = \"" + empty_dir + "\"\n", "relay.toml:4: upstream.tls.ca_path: \"" + empty_dir +
                                                 "\" holds no hashed certificate names (<hash>.0): run `openssl rehash"},
      {"client_key = \"" + key + "\"\n",
       "relay.toml:4: upstream.tls.client_key: needs client_cert (the certificate this key belongs to)"},
      {"client_cert = \"" + cert + "\"\n",
       "relay.toml:4: upstream.tls.client_cert: \"" + cert + "\" holds no private key: set client_key too"},
      {"client_cert = \"" + key + "\"\nclient_key = \"" + key + "\"\n",
       "relay.toml:4: upstream.tls.client_cert: \"" + key + "\" holds no PEM certificate"},
      {"client_cert = \"" + cert + "\"\nclient_key = \"" + cert + "\"\n",
       "relay.toml:5: upstream.tls.client_key: \"" + cert + "\" holds no PEM private key"},
      {"client_cert = \"" + cert + "\"\nclient_key = \"/nonexistent/key.pem\"\n",
       "relay.toml:5: upstream.tls.client_key: cannot read \"/nonexistent/key.pem\""},
      {"client_cert = \"" + cert + "\"\nclient_key = \"" + encrypted + "\"\n",
       "relay.toml:5: upstream.tls.client_key: \"" + encrypted + "\" holds an encrypted private key"},
      {"sni = \"127.0.0.1\"\n", "relay.toml:4: upstream.tls.sni: expected a DNS host name (SNI carries no IP address)"},
      {"sni = \"bad_name.test\"\n", "relay.toml:4: upstream.tls.sni: expected a DNS host name"},
      {"sni = \"-a.test\"\n", "relay.toml:4: upstream.tls.sni: expected a DNS host name"},
      {"min_version = \"1.1\"\n", "relay.toml:4: upstream.tls.min_version: expected 1.2 or 1.3, got \"1.1\""},
      {"verify = \"maybe\"\n", "relay.toml:4: upstream.tls.verify"},
      {"cipher = \"x\"\n", "relay.toml:4: upstream.tls.cipher: unknown key"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    const auto msg = relay::test::config_load_error(tls_table(c.body));
    CAPTURE(msg);
    CHECK(msg.find(c.expected) != std::string::npos);
  }
  // From the environment, the variable is named instead of a line.
  const auto msg = relay::test::config_load_error("", {{"RELAY_UPSTREAM_TLS_CA_FILE", "/nonexistent/ca.pem"}});
  CHECK(msg.find("environment RELAY_UPSTREAM_TLS_CA_FILE: upstream.tls.ca_file: cannot read") != std::string::npos);
}

TEST_CASE("upstream.tls: accepted files and names") {
  TempDir dir;
  const auto cert = dir.file("cert.pem", kCert);
  const auto key = dir.file("client.key", kKey);
  const auto combined = dir.file("combined.pem", std::string(kCert) + kKey);
  dir.file("5d30f3c5.0", kCert);
  UpstreamTls tls;
  tls.ca_file = cert;
  tls.ca_path = dir.path.string();
  tls.client_cert = cert;
  tls.client_key = key;
  tls.sni = "api.origin-1.test";
  CHECK_FALSE(validate_upstream_tls(tls).has_value());
  // A certificate file that holds its key too needs no client_key.
  tls.client_cert = combined;
  tls.client_key.clear();
  CHECK_FALSE(validate_upstream_tls(tls).has_value());
  // The problem names the key inside the table, for any table holding one.
  tls.sni = "10.1.2.3";
  const auto problem = validate_upstream_tls(tls);
  REQUIRE(problem.has_value());
  CHECK(problem->key == "sni");
}
