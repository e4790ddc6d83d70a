// Loading [server.tls], [server.http2], server.h2c and cache.key.scheme:
// keys from the file and the environment, the certificate checks done with
// OpenSSL at load (each refusal naming server.tls.certificates[N].cert or
// .key and its line), --print-config's round trip and what a reload may
// change. Certificates are made here with libcrypto (EC P-256, fast), so
// their validity dates can be put in the past or the future at will.
#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "temp_dir.hpp"
#include "config_errors.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/policy.hpp"
#include "relay/cache/target.hpp"
#include "relay/config/config.hpp"
#include "relay/config/print.hpp"
#include "relay/config/reload.hpp"
#include "relay/config/schema.hpp"

using namespace relay::config;
using relay::test::config_load_error;
using namespace std::chrono_literals;

namespace {

constexpr long kDay = 86'400;

struct Pem {
  std::string cert;
  std::string key;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A self-signed certificate for `name`, valid from now+from_s to now+until_s;
// its key PEM-encoded, encrypted with "secret" when asked.
Pem make_certificate(const std::string& name, long from_s = -kDay, long until_s = 30 * kDay,
                     bool encrypted_key = false) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  REQUIRE(key);
  std::unique_ptr<X509, decltype(&X509_free)> x509(X509_new(), X509_free);
  REQUIRE(x509);
  X509_set_version(x509.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), until_s);
  X509_set_pubkey(x509.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x509.get(), subject);
  REQUIRE(X509_sign(x509.get(), key.get(), EVP_sha256()) > 0);

  std::unique_ptr<BIO, decltype(&BIO_free)> cert_out(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_out(BIO_new(BIO_s_mem()), BIO_free);
  REQUIRE(PEM_write_bio_X509(cert_out.get(), x509.get()) == 1);
  static char passphrase[] = "secret";
  REQUIRE(PEM_write_bio_PrivateKey(key_out.get(), key.get(), encrypted_key ? EVP_aes_256_cbc() : nullptr,
                                   nullptr, 0, nullptr, encrypted_key ? passphrase : nullptr) == 1);
  return {bio_text(cert_out.get()), bio_text(key_out.get())};
}

using relay::test::TempDir;

// name.pem and name.key for a certificate in `dir`; returns {cert path, key path}.
Pem write_pair(const TempDir& dir, const std::string& name, const Pem& pem) {
  return {dir.file(name + ".pem", pem.cert), dir.file(name + ".key", pem.key)};
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

// The acceptance block, exactly as documented (its paths are swapped for
// real files by the tests).
const std::string kFrontDoorAcceptance = R"([server.tls]
listen = "127.0.0.1:8443"
certificates = [ { cert = "/etc/relay/site.pem",  key = "/etc/relay/site.key" },    # the first is the default
                 { cert = "/etc/relay/other.pem", key = "/etc/relay/other.key" } ]  # chosen by SNI from the certificate's names
)";

// The acceptance block pointing at real files in dir.
std::string acceptance_in(const TempDir& dir) {
  const auto site = write_pair(dir, "site", make_certificate("site.test"));
  const auto other = write_pair(dir, "other", make_certificate("other.test"));
  std::string text = kFrontDoorAcceptance;
  replace_all(text, "/etc/relay/site.pem", site.cert);
  replace_all(text, "/etc/relay/site.key", site.key);
  replace_all(text, "/etc/relay/other.pem", other.cert);
  replace_all(text, "/etc/relay/other.key", other.key);
  return text;
}

// [server.tls] with listen and the certificate entries written as given
// (on line 3).
std::string tls_with(const std::string& entries, const std::string& listen = "127.0.0.1:8443") {
  return "[server.tls]\nlisten = \"" + listen + "\"\ncertificates = [ " + entries + " ]\n";
}

using relay::test::load;

std::string entry(const Pem& paths) { return "{ cert = \"" + paths.cert + "\", key = \"" + paths.key + "\" }"; }

// entries as a TOML array, the form RELAY_SERVER_TLS_CERTIFICATES takes.
// (append: GCC 12 warns on "[" + std::string&& at -O3.)
std::string array_of(const std::string& entries) {
  std::string out = "[";
  out.append(entries).append("]");
  return out;
}

}  // namespace

TEST_CASE("front door: defaults are no TLS listener, no h2c, the documented HTTP/2 limits, one key for both schemes") {
  const auto c = load_defaults({});
  CHECK_FALSE(c.server.h2c);
  CHECK_FALSE(c.server.tls.enabled());
  CHECK(c.server.tls == ServerTls{});
  CHECK(c.server.http2 == Http2Config{});
  CHECK(c.server.http2.max_concurrent_streams == 128);
  CHECK(c.server.http2.initial_window_size == 256 * 1024);
  CHECK_FALSE(c.cache.key.scheme);
  // The shipped example documents [server.tls] commented out: it runs without certificates.
  const auto example = load_from_file(RELAY_SOURCE_ROOT "/relay.example.toml", {});
  CHECK(example.server.tls == ServerTls{});
  CHECK(example.server.http2 == Http2Config{});
  CHECK_FALSE(example.server.h2c);
  CHECK_FALSE(example.cache.key.scheme);
}

TEST_CASE("front door: the acceptance block appended to relay.example.toml loads as written") {
  TempDir dir;
  const std::string example = read_all(RELAY_SOURCE_ROOT "/relay.example.toml");
  REQUIRE_FALSE(example.empty());
  const std::string text = example + "\n" + acceptance_in(dir);
  // The block's first line comes right after the example and one blank line.
  const int block = static_cast<int>(std::count(example.begin(), example.end(), '\n')) + 2;
  const auto loaded = load_with_sources(text, "relay.toml", {});
  const auto& tls = loaded.config.server.tls;
  CHECK(tls.enabled());
  CHECK(tls.listen == "127.0.0.1:8443");
  REQUIRE(tls.certificates.size() == 2);
  CHECK(tls.certificates[0].cert == (dir.path / "site.pem").string());
  CHECK(tls.certificates[0].key == (dir.path / "site.key").string());
  CHECK(tls.certificates[1].cert == (dir.path / "other.pem").string());
  CHECK(tls.certificates[1].key == (dir.path / "other.key").string());
  CHECK(tls.certificates[0].line == block + 2);
  CHECK(tls.certificates[1].line == block + 3);
  CHECK(loaded.source_of("server.tls.certificates[2].key") == Source{Source::From::File, "relay.toml", block + 3});
  // The rest of [server.tls] keeps its defaults.
  CHECK(tls.min_version == TlsVersion::V1_2);
  CHECK(tls.http2);
  CHECK(tls.session_tickets);
}

TEST_CASE("front door: every key from the file") {
  TempDir dir;
  const auto site = write_pair(dir, "site", make_certificate("site.test"));
  const auto c = load_from_string(R"(
[server]
h2c = true
[server.tls]
listen = "[::1]:8443"
min_version = "1.3"
ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"
http2 = false
handshake_timeout = "3s"
session_tickets = false
ticket_key_rotation = "12h"
[[server.tls.certificates]]
cert = ")" + site.cert + R"("
key = ")" + site.key + R"("
[server.http2]
max_concurrent_streams = 100
initial_window_size = "1MiB"
ping_interval = "15s"
ping_timeout = "5s"
max_resets_burst = 200
max_resets_per_second = 10
max_continuations = 4
[cache.key]
scheme = false
)",
                                  "relay.toml", {});
  CHECK(c.server.h2c);
  const auto& tls = c.server.tls;
  CHECK(tls.listen == "[::1]:8443");
  CHECK(tls.min_version == TlsVersion::V1_3);
  CHECK(tls.ciphers == "ECDHE-ECDSA-AES128-GCM-SHA256");
  CHECK_FALSE(tls.http2);
  CHECK(tls.handshake_timeout == 3s);
  CHECK_FALSE(tls.session_tickets);
  CHECK(tls.ticket_key_rotation == 12h);
  // [[server.tls.certificates]] is the same array as the inline form; its line is the header's.
  REQUIRE(tls.certificates.size() == 1);
  CHECK(tls.certificates[0] == TlsCertificate{site.cert, site.key, 12});
  const auto& h2 = c.server.http2;
  CHECK(h2.max_concurrent_streams == 100);
  CHECK(h2.initial_window_size == 1024 * 1024);
  CHECK(h2.ping_interval == 15s);
  CHECK(h2.ping_timeout == 5s);
  CHECK(h2.max_resets_burst == 200);
  CHECK(h2.max_resets_per_second == 10);
  CHECK(h2.max_continuations == 4);
  CHECK_FALSE(c.cache.key.scheme);
}

TEST_CASE("front door: from the environment, RELAY_SERVER_H2C=true and the certificates as a TOML array") {
  CHECK(load_defaults({{"RELAY_SERVER_H2C", "true"}}).server.h2c);
  CHECK(load_defaults({{"RELAY_SERVER_H2C", "1"}}).server.h2c);
  CHECK_FALSE(load_from_string("[server]\nh2c = true\n", "relay.toml", {{"RELAY_SERVER_H2C", "false"}}).server.h2c);
  CHECK(config_load_error("", {{"RELAY_SERVER_H2C", "maybe"}}) ==
        "environment RELAY_SERVER_H2C: expected a boolean (true/false/1/0/yes/no), got \"maybe\"");

  const auto h2 = load_defaults({{"RELAY_SERVER_HTTP2_MAX_CONCURRENT_STREAMS", "64"},
                                 {"RELAY_SERVER_HTTP2_PING_INTERVAL", "45s"},
                                 {"RELAY_SERVER_TLS_MIN_VERSION", "1.3"},
                                 {"RELAY_CACHE_KEY_SCHEME", "no"}});
  CHECK(h2.server.http2.max_concurrent_streams == 64);
  CHECK(h2.server.http2.ping_interval == 45s);
  CHECK(h2.server.tls.min_version == TlsVersion::V1_3);
  CHECK_FALSE(h2.cache.key.scheme);

  TempDir dir;
  const auto site = write_pair(dir, "site", make_certificate("site.test"));
  const auto other = write_pair(dir, "other", make_certificate("other.test"));
  // The variable replaces the file's whole list.
  const auto loaded = load_with_sources(tls_with(entry(site) + ", " + entry(other)), "relay.toml",
                                        {{"RELAY_SERVER_TLS_CERTIFICATES", array_of(entry(other))}});
  REQUIRE(loaded.config.server.tls.certificates.size() == 1);
  CHECK(loaded.config.server.tls.certificates[0] == TlsCertificate{other.cert, other.key, 0});
  CHECK(loaded.source_of("server.tls.certificates") ==
        Source{Source::From::Environment, "RELAY_SERVER_TLS_CERTIFICATES", 0});
  CHECK(loaded.source_of("server.tls.certificates[2]") == Source{});

  const auto env_only = load_defaults({{"RELAY_SERVER_TLS_LISTEN", "127.0.0.1:8443"},
                                       {"RELAY_SERVER_TLS_CERTIFICATES", array_of(entry(site))}});
  CHECK(env_only.server.tls.enabled());
  CHECK(env_only.server.tls.certificates.size() == 1);

  CHECK(config_load_error("", {{"RELAY_SERVER_TLS_CERTIFICATES", site.cert}}).starts_with(
      "environment RELAY_SERVER_TLS_CERTIFICATES: expected a TOML array like [{ cert = "));
  CHECK(config_load_error("", {{"RELAY_SERVER_TLS_CERTIFICATES", "[]\nx = 1"}}).starts_with(
      "environment RELAY_SERVER_TLS_CERTIFICATES: expected a TOML array"));
  CHECK(config_load_error("", {{"RELAY_SERVER_TLS_LISTEN", "127.0.0.1:8443"},
                               {"RELAY_SERVER_TLS_CERTIFICATES", "[{ cert = \"" + site.cert + "\" }]"}}) ==
        "environment RELAY_SERVER_TLS_CERTIFICATES: server.tls.certificates[1]: missing required key \"key\"");
  CHECK(config_load_error("", {{"RELAY_SERVER_TLS_LISTEN", "127.0.0.1:8443"},
                               {"RELAY_SERVER_TLS_CERTIFICATES", array_of(entry({site.cert, other.key}))}})
            .starts_with("environment RELAY_SERVER_TLS_CERTIFICATES: server.tls.certificates[1].key: the private "
                         "key in"));
}

TEST_CASE("front door: certificates are checked at load, each refusal naming its key and line") {
  TempDir dir;
  const auto good = write_pair(dir, "good", make_certificate("site.test"));
  const auto other = write_pair(dir, "other", make_certificate("other.test"));
  const auto expired = write_pair(dir, "expired", make_certificate("old.test", -30 * kDay, -kDay));
  const auto future = write_pair(dir, "future", make_certificate("new.test", 2 * kDay, 30 * kDay));
  const auto locked = write_pair(dir, "locked", make_certificate("locked.test", -kDay, 30 * kDay, true));
  const std::string missing = (dir.path / "missing.pem").string();
  const std::string at = "relay.toml:3: ";

  CHECK(config_load_error(tls_with(entry(good))).empty());

  const auto expired_error = config_load_error(tls_with(entry(good) + ", " + entry(expired)));
  CHECK(expired_error.starts_with(at + "server.tls.certificates[2].cert: the certificate in \"" + expired.cert +
                                  "\" expired on 20"));
  CHECK(expired_error.ends_with(" UTC"));
  CHECK(config_load_error(tls_with(entry(future)))
            .starts_with(at + "server.tls.certificates[1].cert: the certificate in \"" + future.cert +
                         "\" is not valid before 20"));
  CHECK(config_load_error(tls_with(entry(good) + ", " + entry({other.cert, good.key}))) ==
        at + "server.tls.certificates[2].key: the private key in \"" + good.key +
            "\" does not belong to the certificate in \"" + other.cert + "\"");
  CHECK(config_load_error(tls_with(entry({missing, good.key}))) ==
        at + "server.tls.certificates[1].cert: cannot read \"" + missing + "\": No such file or directory");
  CHECK(config_load_error(tls_with(entry({good.cert, missing}))) ==
        at + "server.tls.certificates[1].key: cannot read \"" + missing + "\": No such file or directory");
  CHECK(config_load_error(tls_with(entry({dir.path.string(), good.key}))) ==
        at + "server.tls.certificates[1].cert: \"" + dir.path.string() + "\" is not a regular file");
  // The two files swapped: neither holds what its key names.
  CHECK(config_load_error(tls_with(entry({good.key, good.cert})))
            .starts_with(at + "server.tls.certificates[1].cert: \"" + good.key + "\" holds no PEM certificate"));
  CHECK(config_load_error(tls_with(entry({good.cert, good.cert})))
            .starts_with(at + "server.tls.certificates[1].key: \"" + good.cert + "\" holds no PEM private key"));
  CHECK(config_load_error(tls_with(entry(locked))) ==
        at + "server.tls.certificates[1].key: \"" + locked.key +
            "\" holds an encrypted private key; relay needs it unencrypted (protect the file by its permissions)");
}

TEST_CASE("front door: the shape of certificates and the keys that must agree") {
  TempDir dir;
  const auto good = write_pair(dir, "good", make_certificate("site.test"));
  const std::string cert = "cert = \"" + good.cert + "\"";
  const std::string key = "key = \"" + good.key + "\"";
  CHECK(config_load_error(tls_with("{ " + cert + ", " + key + ", chain = \"x\" }")) ==
        "relay.toml:3: server.tls.certificates[1].chain: unknown key (a certificate has cert and key)");
  CHECK(config_load_error(tls_with("{ " + cert + " }")) ==
        "relay.toml:3: server.tls.certificates[1]: missing required key \"key\"");
  CHECK(config_load_error(tls_with("{ " + cert + ", key = \"\" }")) ==
        "relay.toml:3: server.tls.certificates[1].key: must not be empty");
  CHECK(config_load_error(tls_with("{ " + cert + ", key = 7 }")) ==
        "relay.toml:3: server.tls.certificates[1].key: expected a string, got 7");
  CHECK(config_load_error(tls_with("\"" + good.cert + "\"")) ==
        "relay.toml:3: server.tls.certificates[1]: expected a table { cert = \"/path/cert.pem\", key = "
        "\"/path/key.pem\" }, got \"" + good.cert + "\"");
  CHECK(config_load_error("[server.tls]\ncertificates = \"x\"\n") ==
        "relay.toml:2: server.tls.certificates: expected an array of { cert = \"/path/cert.pem\", key = "
        "\"/path/key.pem\" }, got \"x\"");

  CHECK(config_load_error("[server.tls]\nlisten = \"127.0.0.1:8443\"\n") ==
        "relay.toml:2: server.tls.listen: needs server.tls.certificates, at least one { cert = "
        "\"/path/cert.pem\", key = \"/path/key.pem\" }");
  CHECK(config_load_error("[server.tls]\ncertificates = [ { " + cert + ", " + key + " } ]\n") ==
        "relay.toml:2: server.tls.certificates: needs server.tls.listen (the address of the TLS listener), which "
        "is not set");
  const std::string pair = "{ " + cert + ", " + key + " }";
  CHECK(config_load_error("[server]\nlisten = \"127.0.0.1:8080\"\n" + tls_with(pair, "127.0.0.1:8080")) ==
        "relay.toml:4: server.tls.listen: takes the port of server.listen (127.0.0.1:8080): the TLS listener needs "
        "an address of its own");
  CHECK(config_load_error("[server]\nlisten = \"127.0.0.2:8080\"\n" + tls_with(pair, "127.0.0.1:8080")).empty());
  CHECK(config_load_error("[server]\nlisten = \"0.0.0.0:8443\"\n" + tls_with("{ " + cert + ", " + key + " }")) ==
        "relay.toml:4: server.tls.listen: takes the port of server.listen (0.0.0.0:8443): the TLS listener needs "
        "an address of its own");
  CHECK(config_load_error("[admin]\nlisten = \"127.0.0.1:8443\"\n" + tls_with("{ " + cert + ", " + key + " }"))
            .starts_with("relay.toml:4: server.tls.listen: takes the port of admin.listen"));
  CHECK(config_load_error("[server.tls]\nlisten = \"127.0.0.1\"\n").starts_with("relay.toml:2: server.tls.listen: "));
}

TEST_CASE("front door: ranges of [server.tls] and [server.http2]") {
  CHECK(config_load_error("[server.tls]\nmin_version = \"1.1\"\n").starts_with(
      "relay.toml:2: server.tls.min_version: expected "));
  CHECK(config_load_error("[server.tls]\nciphers = \"NOT-A-CIPHER\"\n") ==
        "relay.toml:2: server.tls.ciphers: selects no cipher OpenSSL knows, got \"NOT-A-CIPHER\"");
  CHECK(config_load_error("[server.tls]\nciphers = \"\"\n") ==
        "relay.toml:2: server.tls.ciphers: selects no cipher OpenSSL knows, got \"\"");
  CHECK(config_load_error("[server.tls]\nhandshake_timeout = 0\n") ==
        "relay.toml:2: server.tls.handshake_timeout: must be greater than 0");
  CHECK(config_load_error("[server.tls]\nticket_key_rotation = 0\n") ==
        "relay.toml:2: server.tls.ticket_key_rotation: must be greater than 0");
  CHECK(config_load_error("[server.http2]\ninitial_window_size = 0\n") ==
        "relay.toml:2: server.http2.initial_window_size: must be 1..2147483647 (2^31-1), got 0");
  CHECK(config_load_error("[server.http2]\ninitial_window_size = 2147483648\n") ==
        "relay.toml:2: server.http2.initial_window_size: must be 1..2147483647 (2^31-1), got 2147483648");
  CHECK(config_load_error("[server.http2]\ninitial_window_size = 2147483647\n").empty());
  CHECK(config_load_error("[server.http2]\ninitial_window_size = \"4GiB\"\n") ==
        "relay.toml:2: server.http2.initial_window_size: out of range, got 4294967296");
  CHECK(config_load_error("[server.http2]\nmax_concurrent_streams = 4294967296\n") ==
        "relay.toml:2: server.http2.max_concurrent_streams: out of range, got 4294967296");
  CHECK(config_load_error("[server.http2]\nmax_concurrent_streams = -1\n") ==
        "relay.toml:2: server.http2.max_concurrent_streams: out of range, got -1");
  CHECK(config_load_error("[server.http2]\nmax_concurrent_streams = 0\n") ==
        "relay.toml:2: server.http2.max_concurrent_streams: must be at least 1");
  CHECK(config_load_error("[server.http2]\nmax_resets_burst = 0\n") ==
        "relay.toml:2: server.http2.max_resets_burst: must be at least 1");
  CHECK(config_load_error("[server.http2]\nmax_resets_per_second = 0\n") ==
        "relay.toml:2: server.http2.max_resets_per_second: must be at least 1");
  CHECK(config_load_error("[server.http2]\nping_timeout = \"0s\"\n") ==
        "relay.toml:2: server.http2.ping_timeout: must be greater than 0");
  CHECK(config_load_error("[server.http2]\nmax_continuations = 0\n").empty());
  CHECK(config_load_error("[server.http2]\nmax_streams = 1\n") == "relay.toml:2: server.http2.max_streams: unknown key");
}

TEST_CASE("a cache rule's sort_query replaces cache.key.sort_query for its paths") {
  const auto c = relay::test::load("[[cache.rules]]\npath = \"/search\"\nsort_query = false\n[[cache.rules]]\npath = \"/*\"\n");
  REQUIRE(c.cache.rules.size() == 2);
  CHECK(c.cache.rules[0].sort_query == false);
  CHECK_FALSE(c.cache.rules[1].sort_query.has_value());
  CHECK_FALSE(relay::cache::resolve_rule(c.cache, "/search").key.sort_query);
  CHECK(relay::cache::resolve_rule(c.cache, "/other").key.sort_query);
  // What the key holds: the order as given on /search, sorted elsewhere.
  relay::http::Headers host;
  host.add("Host", "a.example");
  const auto key_of = [&](std::string_view target) {
    const auto normalized = relay::cache::normalize_target(target, host, "http");
    REQUIRE(normalized.ok);
    return relay::cache::make_key(normalized.target, host, relay::cache::resolve_rule(c.cache, normalized.target.path).key).primary;
  };
  CHECK(key_of("/search?b=1&a=2") != key_of("/search?a=2&b=1"));
  CHECK(key_of("/other?b=1&a=2") == key_of("/other?a=2&b=1"));
  CHECK(config_load_error("[[cache.rules]]\npath = \"/*\"\nsort_query = 1\n") ==
        "relay.toml:3: cache.rules[1].sort_query: expected a boolean, got 1");
}

TEST_CASE("front door: a cache rule's key_scheme replaces cache.key.scheme for its paths") {
  const auto c = load(R"(
[[cache.rules]]
path = "/shared/*"
key_scheme = false
[[cache.rules]]
path = "/*"
[cache.key]
scheme = true
)");
  REQUIRE(c.cache.rules.size() == 2);
  CHECK(c.cache.rules[0].key_scheme == false);
  CHECK_FALSE(c.cache.rules[1].key_scheme.has_value());
  CHECK_FALSE(relay::cache::resolve_rule(c.cache, "/shared/a.css").key.scheme);
  CHECK(relay::cache::resolve_rule(c.cache, "/other").key.scheme);
  CHECK(config_load_error("[[cache.rules]]\npath = \"/*\"\nkey_scheme = \"no\"\n") ==
        "relay.toml:3: cache.rules[1].key_scheme: expected a boolean, got \"no\"");
}

TEST_CASE("front door: --print-config prints [server.tls] with its certificates and loads back the same") {
  TempDir dir;
  const auto original = load_with_sources(acceptance_in(dir) + "[server]\nh2c = true\n[server.http2]\n"
                                           "max_resets_burst = 50\n[cache.key]\nscheme = true\n",
                                           "relay.toml", {{"RELAY_SERVER_TLS_MIN_VERSION", "1.3"}});
  const auto text = print_config(original);
  CAPTURE(text);
  const auto& tls = original.config.server.tls;
  const std::string first = "certificates = [ { cert = \"" + tls.certificates[0].cert + "\", key = \"" +
                            tls.certificates[0].key + "\" },";
  const std::string second = "                 { cert = \"" + tls.certificates[1].cert + "\", key = \"" +
                             tls.certificates[1].key + "\" } ]";
  CHECK(text.find("\n[server.tls]\nlisten = \"127.0.0.1:8443\"") != std::string::npos);
  CHECK(text.find("\n" + first + "  # relay.toml:3\n" + second + "  # relay.toml:4\n") != std::string::npos);
  CHECK(text.find("\nmin_version = \"1.3\"") != std::string::npos);
  CHECK(text.find("\nh2c = true") != std::string::npos);

  LoadResult again;
  REQUIRE_NOTHROW(again = load_with_sources(text, "printed.toml", {}));
  CHECK(again.config.server.h2c);
  CHECK(again.config.server.http2 == original.config.server.http2);
  CHECK(again.config.cache.key.scheme);
  const auto& back = again.config.server.tls;
  CHECK(back.listen == tls.listen);
  CHECK(back.min_version == TlsVersion::V1_3);
  REQUIRE(back.certificates.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(back.certificates[i].cert == tls.certificates[i].cert);
    CHECK(back.certificates[i].key == tls.certificates[i].key);
  }
  for (const auto& kv : key_values(again.config)) {
    CAPTURE(kv.path);
    CHECK(again.source_of(kv.path).from == Source::From::File);
  }

  // Without a TLS listener: an empty list, which loads back as none.
  const auto defaults = print_config(load_defaults_with_sources({}));
  CHECK(defaults.find("\ncertificates = []") != std::string::npos);
  CHECK(load_from_string(defaults, "printed.toml", {}).server.tls == ServerTls{});
}

TEST_CASE("front door: a reload may change certificates and limits, not the TLS listener or h2c") {
  TempDir dir;
  const auto site = write_pair(dir, "site", make_certificate("site.test"));
  const auto other = write_pair(dir, "other", make_certificate("other.test"));
  const auto running = load(tls_with(entry(site)));
  CHECK_FALSE(restart_needed(running, load(tls_with(entry(other) + ", " + entry(site)))).has_value());
  CHECK_FALSE(restart_needed(running, load(tls_with(entry(site)) + "min_version = \"1.3\"\nhttp2 = false\n"
                                                                   "ciphers = \"ECDHE-RSA-AES128-GCM-SHA256\"\n"
                                                                   "[server.http2]\nmax_concurrent_streams = 10\n"
                                                                   "[cache.key]\nscheme = false\n"))
                  .has_value());
  CHECK(restart_needed(running, load(tls_with(entry(site), "127.0.0.1:9443"))) == "server.tls.listen");
  CHECK(restart_needed(running, load("")) == "server.tls.listen");
  CHECK(restart_needed(running, load(tls_with(entry(site)) + "[server]\nh2c = true\n")) == "server.h2c");
}
