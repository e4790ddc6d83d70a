// The one cache-status vocabulary: it feeds X-Cache, the access log and
// the metric labels, so they always agree.
#pragma once

#include <string_view>

namespace relay::cache {

enum class CacheStatus {
  Hit,     // served from storage, fresh
  Miss,    // fetched from the origin and stored
  Bypass,  // request or response not cacheable: passed through
};

// "HIT", "MISS", "BYPASS": the X-Cache value.
std::string_view header_value(CacheStatus s) noexcept;
// "hit", "miss", "bypass": the metric label.
std::string_view metric_label(CacheStatus s) noexcept;

}  // namespace relay::cache
