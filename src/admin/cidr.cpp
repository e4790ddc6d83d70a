// CIDR parsing and matching (cidr.hpp). Addresses are read with inet_pton,
// the prefix by hand; a block is kept with its host bits zero, which parse()
// insists on so that a typo ("10.0.0.1/8") is not silently widened.
#include "relay/admin/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace relay::admin {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Bits of `a` past `prefix` cleared.
IpAddress masked(IpAddress a, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int keep = std::max(0, std::min(8, prefix - 8 * i));
    a.bytes[static_cast<std::size_t>(i)] &= static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  return a;
}

std::string with_prefix(const IpAddress& a, int prefix) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.v4 ? AF_INET : AF_INET6, a.bytes.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress out;
  if (inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
    out.v4 = true;
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) != 1) return std::nullopt;
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), out.bytes.begin())) {
    IpAddress v4;
    v4.v4 = true;
    std::memcpy(v4.bytes.data(), out.bytes.data() + 12, 4);
    return v4;
  }
  return out;
}

Cidr Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = IpAddress::parse(text.substr(0, slash));
  if (!address)
    throw std::invalid_argument("expected an IP address or a CIDR block like \"10.0.0.0/8\" or \"::1/128\", got \"" +
                                std::string(text) + "\"");
  // An IPv4-mapped block (::ffff:a.b.c.d/n) is the IPv4 block it carries.
  const bool mapped = address->v4 && text.find(':') != std::string_view::npos;
  const int max = address->v4 ? 32 : 128;
  Cidr out{*address, max};
  if (slash != std::string_view::npos) {
    const auto bits = text.substr(slash + 1);
    int n = -1;
    const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
    if (mapped) n -= 96;
    if (ec != std::errc{} || bits.empty() || end != bits.data() + bits.size() || n < 0 || n > max)
      throw std::invalid_argument("expected a prefix length 0.." + std::to_string(mapped ? 128 : max) +
                                  " after '/', got \"" + std::string(text) + "\"");
    out.prefix = n;
  }
  const auto network = masked(out.network, out.prefix);
  if (network.bytes != out.network.bytes)
    throw std::invalid_argument("\"" + std::string(text) + "\" has bits set past its prefix length; did you mean \"" +
                                with_prefix(network, out.prefix) + "\"?");
  return out;
}

bool Cidr::contains(const IpAddress& address) const noexcept {
  return address.v4 == network.v4 && masked(address, prefix).bytes == network.bytes;
}

Allowlist::Allowlist(const std::vector<std::string>& entries) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    try {
      blocks_.push_back(Cidr::parse(entries[i]));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " at index " + std::to_string(i));
    }
  }
}

bool Allowlist::allows(std::string_view address) const {
  const auto parsed = IpAddress::parse(address);
  if (!parsed) return false;
  for (const auto& block : blocks_)
    if (block.contains(*parsed)) return true;
  return false;
}

}  // namespace relay::admin
