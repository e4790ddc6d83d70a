// Loading the client side's protocols: server.tls.certificates (an array of
// { cert, key } tables, the one key of [server.tls] that is not a schema row,
// from the file or from RELAY_SERVER_TLS_CERTIFICATES written as TOML) and
// the checks that need several keys at once: a TLS listener needs
// certificates and an address of its own, certificates need a listener, and
// the files are read (server_tls.cpp). Each problem names the key as
// "server.tls.certificates[2].key" with its file:line.
#include <limits>
#include <string>
#include <utility>

#include "loader.hpp"
#include "values.hpp"

namespace relay::config::detail {
namespace {

constexpr std::string_view kCertificates = "server.tls.certificates";
constexpr const char* kForm = "{ cert = \"/path/cert.pem\", key = \"/path/key.pem\" }";

int line_at(const toml::key& key, const toml::node& node) {
  return static_cast<int>(key.source().begin.line ? key.source().begin.line : node.source().begin.line);
}

// Listening on a wildcard address takes the port on every address.
bool same_socket(const ListenAddress& a, const ListenAddress& b) {
  const auto wildcard = [](const std::string& address) { return address == "0.0.0.0" || address == "::"; };
  return a.port == b.port && (a.address == b.address || wildcard(a.address) || wildcard(b.address));
}

}  // namespace

void Loader::apply_certificates(const toml::node& node, const std::string& env_name) {
  const auto from = [&](int line) {
    return env_name.empty() ? in_file(line) : Source{Source::From::Environment, env_name, 0};
  };
  const std::string top(kCertificates);
  const auto* list = node.as_array();
  if (!list)
    throw ConfigError(describe(from(static_cast<int>(node.source().begin.line))) + ": " + top +
                      ": expected an array of " + kForm + ", got " + shown(node));
  // A later source replaces the whole list, and what was said of the old one.
  std::erase_if(origin, [&](const auto& entry) { return entry.first.starts_with(top + "["); });
  auto& certificates = cfg.server.tls.certificates;
  certificates.clear();
  for (const auto& entry : *list) {
    const std::string name = certificate_source_key(certificates.size());
    const int line = env_name.empty() ? static_cast<int>(entry.source().begin.line) : 0;
    const std::string at = describe(from(line)) + ": " + name;
    const auto* t = entry.as_table();
    if (!t) throw ConfigError(at + ": expected a table " + kForm + ", got " + shown(entry));
    TlsCertificate cert;
    cert.line = line;
    for (const auto& [key, value] : *t) {
      const int key_line = env_name.empty() ? line_at(key, value) : 0;
      const std::string path = name + "." + std::string(key.str());
      const std::string here = describe(from(key_line)) + ": " + path + ": ";
      std::string* slot = key.str() == "cert" ? &cert.cert : key.str() == "key" ? &cert.key : nullptr;
      if (!slot)
        throw ConfigError(here + (value.is_table() ? "unknown table" : "unknown key") +
                          " (a certificate has cert and key)");
      try {
        *slot = std::get<std::string>(from_node(Kind::String, value));
      } catch (const std::invalid_argument& e) {
        throw ConfigError(here + e.what());
      }
      if (slot->empty()) throw ConfigError(here + "must not be empty");
      origin[path] = from(key_line);
    }
    for (const char* required : {"cert", "key"})
      if (!t->contains(required)) throw ConfigError(at + ": missing required key \"" + required + "\"");
    origin[name] = from(line);
    certificates.push_back(std::move(cert));
  }
  origin[top] = from(env_name.empty() ? static_cast<int>(node.source().begin.line) : 0);
}

void Loader::apply_certificate_variable(const std::string& name, const std::string& text) {
  const std::string expected = std::string("expected a TOML array like [") + kForm + "], got \"" + text + "\"";
  toml::table doc;
  try {
    doc = toml::parse("certificates = " + text, name);
  } catch (const toml::parse_error&) {
    throw ConfigError("environment " + name + ": " + expected);
  }
  // Anything after the array (a newline and another key) is not one.
  if (doc.size() != 1) throw ConfigError("environment " + name + ": " + expected);
  apply_certificates(*doc.get("certificates"), name);
}

void Loader::validate_front_door() const {
  const auto& server = cfg.server;
  const auto& tls = server.tls;
  const std::pair<std::string_view, Duration> timeouts[] = {
      {"server.tls.handshake_timeout", tls.handshake_timeout},
      {"server.tls.ticket_key_rotation", tls.ticket_key_rotation},
      {"server.http2.ping_interval", server.http2.ping_interval},
      {"server.http2.ping_timeout", server.http2.ping_timeout},
  };
  for (const auto& [path, d] : timeouts)
    if (d.count() <= 0) fail(path, "must be greater than 0");
  const auto& h2 = server.http2;
  if (h2.max_concurrent_streams < 1) fail("server.http2.max_concurrent_streams", "must be at least 1");
  // RFC 9113 §6.5.2: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 is a connection error.
  constexpr std::uint32_t kMaxWindow = std::numeric_limits<std::int32_t>::max();
  if (h2.initial_window_size < 1 || h2.initial_window_size > kMaxWindow)
    fail("server.http2.initial_window_size",
         "must be 1..2147483647 (2^31-1), got " + std::to_string(h2.initial_window_size));
  if (h2.max_resets_burst < 1) fail("server.http2.max_resets_burst", "must be at least 1");
  if (h2.max_resets_per_second < 1) fail("server.http2.max_resets_per_second", "must be at least 1");

  const std::string top(kCertificates);
  if (!tls.enabled()) {
    if (!tls.certificates.empty())
      fail(top, "needs server.tls.listen (the address of the TLS listener), which is not set");
  } else {
    ListenAddress address;
    try {
      address = ListenAddress::parse(tls.listen);
    } catch (const std::invalid_argument& e) {
      fail("server.tls.listen", e.what());
    }
    if (tls.certificates.empty())
      fail("server.tls.listen", "needs server.tls.certificates, at least one " + std::string(kForm));
    const std::pair<const char*, std::optional<ListenAddress>> others[] = {
        {"server.listen", server.listen},
        {"admin.listen", cfg.admin.listen.address},
        {"metrics.listen", cfg.metrics.listen.on == MetricsListen::On::Own
                               ? std::optional(cfg.metrics.listen.address)
                               : std::nullopt},
    };
    for (const auto& [name, other] : others)
      if (other && same_socket(address, *other))
        fail("server.tls.listen", "takes the port of " + std::string(name) + " (" + other->text +
                                      "): the TLS listener needs an address of its own");
  }
  if (auto problem = validate_server_tls(tls)) fail("server.tls." + problem->key, problem->message);
}

}  // namespace relay::config::detail
