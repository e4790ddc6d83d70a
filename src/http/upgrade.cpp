// See upgrade.hpp. Only GET: a WebSocket handshake is one (RFC 6455 §4.1),
// and a request without a body leaves no doubt where the new protocol's
// first byte is.
#include "relay/http/upgrade.hpp"

#include "relay/http/headers.hpp"

namespace relay::http {

std::vector<std::string_view> offered_upgrades(const Request& req) {
  std::vector<std::string_view> offered;
  const bool http11 = req.version_major == 1 && req.version_minor >= 1;
  if (!http11 || req.method != "GET" || req.has_body || !req.headers.has_token("connection", "upgrade"))
    return offered;
  for (const auto& field : req.headers) {
    if (!iequals(field.name, "upgrade")) continue;
    for_each_list_element(field.value, [&](std::string_view element) { offered.push_back(element); });
  }
  return offered;
}

std::string_view upgrade_protocol_name(std::string_view element) noexcept {
  return trim(element.substr(0, element.find('/')));
}

}  // namespace relay::http
