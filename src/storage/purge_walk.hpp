// Private to storage/: what every backend's purge walk shares, so that the
// rules of storage.hpp's Storage::purge (what counts, what a soft purge
// writes, how often a walk yields) are written once.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "relay/storage/storage.hpp"

namespace relay::storage {

// Entries a walk looks at between two yields to the event loop: a slice of
// memory entries takes well under a millisecond.
inline constexpr std::size_t purge_slice = 1000;

// The URL key an entry is filed under: CacheKey::flat() up to its variant.
inline std::string_view primary_of(std::string_view flat) noexcept { return flat.substr(0, flat.find('\x1f')); }

// Lets the loop run whatever else is queued before the walk goes on.
inline boost::asio::awaitable<void> yield_to_loop() {
  co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
}

// The stored entry under `flat` with `meta`: is it the request's?
inline bool purge_matches(const PurgeRequest& request, std::string_view flat, const EntryMeta& meta) {
  return request.selector.matches(primary_of(flat), meta.internal.tags);
}

// What a matched entry adds to the purge's count: Vary indexes are
// bookkeeping, not responses.
inline std::uint64_t purge_count(const EntryMeta& meta) noexcept { return is_vary_index(meta) ? 0 : 1; }

// A soft purge's mark on a matched response: stale from request.at on,
// unless an earlier purge already made it stale sooner. A Vary index, or a
// response stale by then already, needs no rewrite.
inline bool needs_stale_mark(const EntryMeta& meta, const PurgeRequest& request) {
  const auto& stale_at = meta.internal.stale_at;
  return !is_vary_index(meta) && !(stale_at && *stale_at <= request.at);
}
// Sets the mark if needed; false when the meta was left as it was.
inline bool mark_stale(EntryMeta& meta, const PurgeRequest& request) {
  if (!needs_stale_mark(meta, request)) return false;
  meta.internal.stale_at = request.at;
  return true;
}

// Where an ordered walk over flat keys can start and stop: every key a
// url, prefix or glob selector can match begins with it ("" = anywhere).
inline std::string_view walk_prefix(const PurgeSelector& selector) noexcept {
  using Kind = PurgeSelector::Kind;
  switch (selector.kind) {
    case Kind::url:
    case Kind::prefix:
      return selector.value;
    case Kind::glob:
      return std::string_view(selector.value).substr(0, selector.value.find('*'));
    case Kind::tag:
    case Kind::all:
      break;
  }
  return {};
}

}  // namespace relay::storage
