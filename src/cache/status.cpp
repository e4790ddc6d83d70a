// Spellings of CacheStatus and the Cache-Status field (RFC 9211). Kept in
// one place so X-Cache, Cache-Status, the access log and the metric labels
// cannot drift apart.
#include "relay/cache/status.hpp"

#include <charconv>
#include <iterator>

namespace relay::cache {

std::string_view header_value(CacheStatus s) noexcept {
  switch (s) {
    case CacheStatus::Hit: return "HIT";
    case CacheStatus::Miss: return "MISS";
    case CacheStatus::Bypass: return "BYPASS";
    case CacheStatus::Stale: return "STALE";
    case CacheStatus::Revalidated: return "REVALIDATED";
    case CacheStatus::Expired: return "EXPIRED";
    case CacheStatus::Coalesced: return "COALESCED";
  }
  return "BYPASS";
}

std::string_view metric_label(CacheStatus s) noexcept {
  switch (s) {
    case CacheStatus::Hit: return "hit";
    case CacheStatus::Miss: return "miss";
    case CacheStatus::Bypass: return "bypass";
    case CacheStatus::Stale: return "stale";
    case CacheStatus::Revalidated: return "revalidated";
    case CacheStatus::Expired: return "expired";
    case CacheStatus::Coalesced: return "coalesced";
  }
  return "bypass";
}

std::string format_cache_status(std::string_view cache_name, const CacheStatusInfo& info) {
  std::string out;
  append_cache_status(out, cache_name, info);
  return out;
}

void append_cache_status(std::string& out, std::string_view cache_name, const CacheStatusInfo& info) {
  auto number = [&out](auto value) {
    char digits[24];
    const auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
    out.append(digits, end);
  };
  out += cache_name;
  // RFC 9211 §2.1: "hit" only when the origin was not contacted at all.
  bool hit = info.fwd.empty();
  if (hit) {
    out += "; hit";
  } else {
    out += "; fwd=";
    out += info.fwd;
    if (info.fwd_status) {
      out += "; fwd-status=";
      number(*info.fwd_status);
    }
  }
  if (info.ttl) {
    out += "; ttl=";
    number(*info.ttl);
  }
  if (info.stored) out += "; stored";
  if (info.collapsed) out += "; collapsed";
  if (!info.detail.empty()) {
    out += "; detail=";
    out += info.detail;
  }
}

}  // namespace relay::cache
