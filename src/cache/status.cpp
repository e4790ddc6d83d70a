// Spellings of CacheStatus. Kept in one place so X-Cache, the access log and
// the metric labels cannot drift apart.
#include "relay/cache/status.hpp"

namespace relay::cache {

std::string_view header_value(CacheStatus s) noexcept {
  switch (s) {
    case CacheStatus::Hit: return "HIT";
    case CacheStatus::Miss: return "MISS";
    case CacheStatus::Bypass: return "BYPASS";
  }
  return "BYPASS";
}

std::string_view metric_label(CacheStatus s) noexcept {
  switch (s) {
    case CacheStatus::Hit: return "hit";
    case CacheStatus::Miss: return "miss";
    case CacheStatus::Bypass: return "bypass";
  }
  return "bypass";
}

}  // namespace relay::cache
