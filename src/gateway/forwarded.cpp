// Trusted proxies and forwarding fields (forwarded.hpp).
#include "relay/gateway/forwarded.hpp"

#include <vector>

namespace relay::gateway {

namespace {

std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    auto item = http::trim(text.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// RFC 7239 §6: an IPv6 address is bracketed and quoted, a host name quoted.
std::string node(std::string_view address) {
  if (address.find(':') != std::string_view::npos) return std::string("\"[").append(address).append("]\"");
  return std::string(address);
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out += '"';
}

}  // namespace

std::string real_client(std::string_view peer, const http::Headers& request, const admin::Allowlist& trusted) {
  if (trusted.empty() || !trusted.allows(peer)) return std::string(peer);
  const std::string combined = request.get_combined("x-forwarded-for").value_or("");
  const auto chain = split_list(combined);
  std::string_view client = peer;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    // A hop that is not an address ends the walk: what lies left of it is unverifiable.
    if (!admin::IpAddress::parse(*it)) break;
    client = *it;
    if (!trusted.allows(*it)) break;
  }
  return std::string(client);
}

void set_forwarding_fields(http::Headers& upstream, std::string_view peer, std::string_view host,
                           const admin::Allowlist& trusted, bool forwarded, std::string_view scheme) {
  const bool from_proxy = !trusted.empty() && trusted.allows(peer);
  std::string proto(scheme);
  if (from_proxy) {
    const auto given = upstream.get("x-forwarded-proto");
    if (given == "https" || given == "http") proto = std::string(*given);
  }
  std::string chain;
  if (from_proxy)
    if (auto before = upstream.get_combined("x-forwarded-for"); before && !before->empty()) chain.append(*before).append(", ");
  upstream.set("X-Forwarded-For", chain.append(peer));
  upstream.set("X-Forwarded-Proto", proto);
  if (!forwarded) {
    if (!from_proxy) upstream.remove("forwarded");
    return;
  }
  std::string element = "for=" + node(peer);
  element.append(";proto=").append(proto);
  if (!host.empty()) element.append(";host=").append(quoted(host));
  std::string value;
  if (from_proxy)
    if (auto before = upstream.get_combined("forwarded"); before && !before->empty()) value.append(*before).append(", ");
  upstream.set("Forwarded", value.append(element));
}

}  // namespace relay::gateway
