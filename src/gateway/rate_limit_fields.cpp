// RateLimit-Policy, RateLimit and Retry-After values (rate_limit_fields.hpp).
#include "relay/gateway/rate_limit_fields.hpp"

#include <cmath>

namespace relay::gateway {
namespace {

// An sf-string (RFC 8941 §3.3.3): printable ASCII, '"' and '\' escaped;
// anything else is left out rather than make the whole field invalid.
std::string sf_string(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch < 0x20 || ch > 0x7e) continue;
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out += '"';
}

}  // namespace

std::int64_t ceil_seconds(Micros d, std::int64_t floor) {
  const std::int64_t us = d.count();
  const std::int64_t s = us <= 0 ? 0 : (us + 999'999) / 1'000'000;
  return s < floor ? floor : s;
}

std::string policy_field(std::string_view name, const Bucket& bucket) {
  std::string out = sf_string(name);
  out.append(";q=").append(std::to_string(static_cast<std::int64_t>(std::floor(bucket.burst))));
  out.append(";w=").append(std::to_string(ceil_seconds(bucket.tolerance(), 1)));
  return out;
}

std::string ratelimit_field(std::string_view name, const Decision& decision) {
  std::string out = sf_string(name);
  out.append(";r=").append(std::to_string(decision.remaining));
  const auto window =
      decision.allowed ? ceil_seconds(decision.reset_after) : ceil_seconds(decision.retry_after, 1);
  out.append(";t=").append(std::to_string(window));
  return out;
}

std::string retry_after_field(const Decision& decision) {
  return std::to_string(ceil_seconds(decision.retry_after, 1));
}

}  // namespace relay::gateway
