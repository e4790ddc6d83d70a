// Private to disk/: the free-space guard behind [storage.disk]
// min_free_space (space.cpp). Writers reserve the bytes they are about to
// write against one shared "in flight" figure, so that concurrent writers
// together cannot take the file system below min_free_space between two
// readings of it. Blocking (it may call statvfs) and Asio-free; DiskStore
// calls it from its I/O pool and evicts when a reservation is refused.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace relay::storage::disk {

// Bytes available to the cache on the file system holding the directory;
// nullopt when that cannot be told. Production: free_space (statvfs). A
// seam so tests can play a small, full or lagging disk.
using FreeSpaceProbe = std::function<std::optional<std::uint64_t>(const std::filesystem::path&)>;

class SpaceGuard {
 public:
  // min_free 0 turns the guard off: every reservation succeeds unprobed.
  SpaceGuard(std::filesystem::path dir, std::uint64_t min_free, FreeSpaceProbe probe);

  // Reserves bytes if free - in flight - bytes >= min_free. Returns 0 once
  // reserved, else how many bytes would have to be freed, measured afresh
  // (UINT64_MAX when free space cannot be measured at all).
  std::uint64_t try_reserve(std::uint64_t bytes);

  // Ends a reservation. on_disk: the bytes were committed, so until the next
  // reading they are taken off the last one (which may predate them);
  // otherwise they were abandoned and their file is on its way out.
  void release(std::uint64_t bytes, bool on_disk);

  // Logging, once per episode of pressure rather than once per chunk:
  // evicted entries were removed to make room, refused a write was not stored.
  void note_pressure(std::uint64_t evicted, bool refused);

  std::uint64_t in_flight() const;

 private:
  bool stale_locked(std::chrono::steady_clock::time_point now, std::uint64_t bytes) const;
  // Free space this reservation needs: min_free + in flight + bytes.
  std::uint64_t demand_locked(std::uint64_t bytes) const;
  void end_episode_locked(std::chrono::steady_clock::time_point now);

  const std::filesystem::path dir_;
  const std::uint64_t min_free_;
  const FreeSpaceProbe probe_;

  mutable std::mutex mutex_;
  std::optional<std::uint64_t> free_;  // the last reading, less what was committed since
  std::chrono::steady_clock::time_point read_at_{};
  std::uint64_t in_flight_ = 0;

  bool in_episode_ = false;
  std::chrono::steady_clock::time_point last_pressure_{};
  std::uint64_t episode_evicted_ = 0, episode_refused_ = 0;
};

}  // namespace relay::storage::disk
