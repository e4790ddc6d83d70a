// The [admin] section and metrics.listen: their typed values, the admin
// token (inline or from a file) and the checks that need several keys at
// once: a token or a token file (not both), a readable token file, CIDR
// allowlist entries, and no two listeners on one address.
#include <cctype>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "loader.hpp"
#include "relay/admin/cidr.hpp"
#include "relay/http/headers.hpp"
#include "relay/config/config.hpp"

namespace relay::config {

AdminListen AdminListen::parse(std::string_view text) {
  AdminListen out;
  out.text = text;
  if (!text.empty()) out.address = ListenAddress::parse(text);
  return out;
}

MetricsListen MetricsListen::parse(std::string_view text) {
  MetricsListen out;
  if (text.empty()) return out;
  if (text == "public") {
    out.on = On::Public;
    return out;
  }
  try {
    out.address = ListenAddress::parse(text);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(
        std::string("expected \"\" (on the admin listener), \"public\" (on server.listen) or host:port; ") +
        e.what());
  }
  out.on = On::Own;
  return out;
}

std::string MetricsListen::text() const {
  switch (on) {
    case On::Public: return "public";
    case On::Own: return address.text;
    case On::Admin: break;
  }
  return "";
}

namespace {

// A token goes into an Authorization header: visible ASCII, no spaces.
void check_token(const std::string& token, const std::string& what) {
  if (token.empty()) throw std::invalid_argument(what + " is empty");
  for (unsigned char ch : token)
    if (ch <= 0x20 || ch >= 0x7f)
      throw std::invalid_argument(what + " must be visible ASCII without spaces (it is sent as \"Bearer <token>\")");
}

std::string trimmed(std::string s) {
  const auto space = [](unsigned char ch) { return std::isspace(ch) != 0; };
  while (!s.empty() && space(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && space(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

}  // namespace

std::string admin_token(const AdminConfig& admin) {
  if (!admin.token.empty()) {
    check_token(admin.token, "the token");
    return admin.token;
  }
  if (admin.token_file.empty()) return "";
  std::ifstream in(admin.token_file, std::ios::binary);
  std::string text;
  try {
    if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    in.setstate(std::ios::badbit);  // a directory: libstdc++ throws from underflow
  }
  if (!in || in.bad()) throw std::invalid_argument("cannot read \"" + admin.token_file + "\"");
  auto token = trimmed(std::move(text));
  check_token(token, "the token in \"" + admin.token_file + "\"");
  return token;
}

namespace detail {

void Loader::validate_listeners() const {
  const auto& admin = cfg.admin;
  if (!admin.token.empty() && !admin.token_file.empty())
    fail("admin.token_file", "set admin.token or admin.token_file, not both");
  try {
    admin_token(admin);
  } catch (const std::invalid_argument& e) {
    fail(admin.token.empty() ? "admin.token_file" : "admin.token", e.what());
  }
  try {
    admin::Allowlist{admin.allow};
  } catch (const std::invalid_argument& e) {
    fail("admin.allow", e.what());
  }
  try {
    admin::Allowlist{cfg.purge.allow};
  } catch (const std::invalid_argument& e) {
    fail("purge.allow", e.what());
  }
  try {
    admin::Allowlist{cfg.server.trusted_proxies};
  } catch (const std::invalid_argument& e) {
    fail("server.trusted_proxies", e.what());
  }
  for (const auto& name : cfg.purge.tag_headers)
    if (!http::is_token(name)) fail("purge.tag_headers", "\"" + name + "\" is not a header field name");
  const auto& server = cfg.server.listen;
  if (admin.listen.address && admin.listen.address->port == server.port &&
      admin.listen.address->address == server.address)
    fail("admin.listen", "is server.listen's address too (" + server.text + "): the admin API needs its own");
  const auto& metrics = cfg.metrics.listen;
  if (metrics.on == MetricsListen::On::Admin && (cfg.metrics.path == "/healthz" || cfg.metrics.path == "/readyz" || cfg.metrics.path == "/purge"))
    fail("metrics.path", "\"" + cfg.metrics.path + "\" is an admin endpoint; metrics are served on the admin listener");
  if (metrics.on != MetricsListen::On::Own) return;
  for (const auto& [name, other] : {std::pair{"server.listen", std::optional(server)},
                                    std::pair{"admin.listen", admin.listen.address}})
    if (other && other->port == metrics.address.port && other->address == metrics.address.address)
      fail("metrics.listen", std::string("is ") + name + "'s address too (" + other->text + "): use " +
                                 (name == std::string_view("server.listen") ? "\"public\"" : "\"\"") +
                                 " to serve metrics there");
}

}  // namespace detail
}  // namespace relay::config
