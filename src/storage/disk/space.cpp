// The free-space guard (space.hpp): a cached reading of free space, the
// bytes reserved by writers since, and when to read again.
//
// A writer's reservation is held until its commit or abandon, though the
// file system may show its bytes as soon as they are written: a body in
// progress can then count twice. That errs toward free space, on purpose:
// some file systems (and network ones) report written bytes late, and the
// cost is a little early eviction while a body streams in.
#include "space.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "relay/util/log.hpp"

namespace relay::storage::disk {
namespace {
using Steady = std::chrono::steady_clock;

// A reading is trusted this long: other processes write to the same file
// system, and what evictions and unlinks free shows only in a new one.
constexpr auto refresh_after = std::chrono::milliseconds(100);
// Closer than this to the limit, every reservation reads afresh: accuracy
// matters there, and far from it a chunk costs no system call.
constexpr std::uint64_t near_limit = 4ull << 20;
// An episode of pressure ends after this long without any, so a disk that
// hovers at the limit logs once, not once per eviction.
constexpr auto episode_quiet = std::chrono::seconds(10);

constexpr std::uint64_t unmeasurable = std::numeric_limits<std::uint64_t>::max();

std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) {
  return a > unmeasurable - b ? unmeasurable : a + b;
}

}  // namespace

SpaceGuard::SpaceGuard(std::filesystem::path dir, std::uint64_t min_free, FreeSpaceProbe probe)
    : dir_(std::move(dir)), min_free_(min_free), probe_(std::move(probe)) {}

std::uint64_t SpaceGuard::try_reserve(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  if (min_free_ == 0) {
    in_flight_ += bytes;
    return 0;
  }
  auto now = Steady::now();
  // A refusal always comes from a fresh reading: a reservation that does
  // not fit the cached one is, a fortiori, near the limit.
  if (stale_locked(now, bytes)) {
    free_ = probe_(dir_);
    read_at_ = now;
  }
  if (!free_) return unmeasurable;
  auto demand = demand_locked(bytes);
  if (*free_ < demand) return demand - *free_;
  in_flight_ += bytes;
  end_episode_locked(now);
  return 0;
}

bool SpaceGuard::stale_locked(Steady::time_point now, std::uint64_t bytes) const {
  if (!free_ || now - read_at_ > refresh_after) return true;
  return *free_ < add_saturating(demand_locked(bytes), near_limit);
}

std::uint64_t SpaceGuard::demand_locked(std::uint64_t bytes) const {
  return add_saturating(add_saturating(min_free_, in_flight_), bytes);
}

void SpaceGuard::release(std::uint64_t bytes, bool on_disk) {
  std::lock_guard lock(mutex_);
  in_flight_ -= std::min(bytes, in_flight_);
  if (on_disk && free_) *free_ -= std::min(bytes, *free_);
}

std::uint64_t SpaceGuard::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

void SpaceGuard::note_pressure(std::uint64_t evicted, bool refused) {
  std::lock_guard lock(mutex_);
  last_pressure_ = Steady::now();
  episode_evicted_ += evicted;
  episode_refused_ += refused ? 1 : 0;
  if (std::exchange(in_episode_, true)) return;
  log::warn("disk storage ", dir_.string(), ": free space is down to min_free_space (", min_free_, " bytes): ",
            "evicting least recently used entries to make room; a body that still does not fit is not stored");
}

void SpaceGuard::end_episode_locked(Steady::time_point now) {
  if (!in_episode_ || now - last_pressure_ < episode_quiet) return;
  log::info("disk storage ", dir_.string(), ": free space recovered; meanwhile ", episode_evicted_,
            " entries were evicted for it and ", episode_refused_, " bodies were not stored");
  in_episode_ = false;
  episode_evicted_ = episode_refused_ = 0;
}

}  // namespace relay::storage::disk
