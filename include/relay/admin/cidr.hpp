// Client address allowlists for the admin listener: CIDR blocks
// ("10.0.0.0/8", "::1/128") or single addresses, IPv4 and IPv6. Pure: no
// sockets, so the config validator and the unit tests use it as the
// listener does. An IPv4-mapped IPv6 address (::ffff:127.0.0.1, what a
// dual-stack socket reports for an IPv4 client) is matched as the IPv4
// address it carries.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::admin {

// An IP address as 16 bytes; an IPv4 one in the first 4.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;

  // A literal ("127.0.0.1", "::1", "::ffff:10.0.0.1"; no brackets, no zone).
  static std::optional<IpAddress> parse(std::string_view text);
};

struct Cidr {
  IpAddress network;
  int prefix = 0;  // leading bits that must match: 0..32 (IPv4), 0..128 (IPv6)

  // "a.b.c.d/n", "v6/n" or a single address (all bits). Throws
  // std::invalid_argument naming what is wrong, including host bits set
  // past the prefix ("10.0.0.1/8": did you mean 10.0.0.0/8?).
  static Cidr parse(std::string_view text);
  bool contains(const IpAddress& address) const noexcept;
};

class Allowlist {
 public:
  Allowlist() = default;
  // Throws std::invalid_argument naming the first bad entry and its index.
  explicit Allowlist(const std::vector<std::string>& entries);
  // An address that does not parse is never allowed.
  bool allows(std::string_view address) const;
  bool empty() const noexcept { return blocks_.empty(); }

 private:
  std::vector<Cidr> blocks_;
};

}  // namespace relay::admin
