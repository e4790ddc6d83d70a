// Internal to src/config: what the upstream and listener TLS checks share
// about the PEM files they read and name in their problems.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace relay::config::detail {

// A PEM file is a few KiB, a CA bundle a few hundred certificates; anything
// far larger is not one, and is not read into memory.
inline constexpr std::uintmax_t kMaxPemFile = 16u * 1024 * 1024;

inline std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out.append(s).append("\"");
  return out;
}

}  // namespace relay::config::detail
