// The one cache-status vocabulary: it feeds X-Cache, Cache-Status (RFC 9211),
// the access log and the metric labels, so they always agree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relay::cache {

enum class CacheStatus {
  Hit,          // served from storage, fresh
  Miss,         // not in storage: fetched from the origin
  Bypass,       // request or response not cacheable: passed through
  Stale,        // served stale (stale-while-revalidate, stale-if-error, max-stale)
  Revalidated,  // stored response validated by the origin (304) and served
  Expired,      // stored response was stale; the origin sent a new one
  Coalesced,    // followed another request's fill of the same key (streamed as it arrived)
};
inline constexpr std::size_t cache_status_count = 7;

// "HIT", "MISS", "BYPASS", "STALE", "REVALIDATED", "EXPIRED", "COALESCED": the X-Cache value.
std::string_view header_value(CacheStatus s) noexcept;
// "hit", "miss", "bypass", "stale", "revalidated", "expired": the metric label.
std::string_view metric_label(CacheStatus s) noexcept;

// The parameters of one Cache-Status entry (RFC 9211 §2).
struct CacheStatusInfo {
  CacheStatus status = CacheStatus::Miss;
  // fwd reason when the origin was contacted: "uri-miss", "vary-miss",
  // "miss", "request", "stale", "bypass", "method" (empty = not forwarded).
  std::string_view fwd;
  std::optional<int> fwd_status;     // the origin's status, when forwarded
  std::optional<std::int64_t> ttl;   // remaining freshness in seconds (negative = stale)
  bool stored = false;               // the response was stored
  bool collapsed = false;            // the request waited for another's fill
  std::string_view detail;           // e.g. "stale-while-revalidate", "stale-if-error"
};

// "relay; hit; ttl=57", "relay; fwd=uri-miss; fwd-status=200; stored", ...
std::string format_cache_status(std::string_view cache_name, const CacheStatusInfo& info);
// The same appended to out.
void append_cache_status(std::string& out, std::string_view cache_name, const CacheStatusInfo& info);

}  // namespace relay::cache
