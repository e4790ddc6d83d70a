// The purges of the last while, for fills that were running when they
// happened: a fill whose request went to the origin before a purge that
// matches its key may carry the old content, so it must not be stored.
// Bounded (kKeep entries, kKeepFor old); a fill older than what is
// remembered is refused conservatively. Thread-safe.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "relay/storage/purge.hpp"
#include "relay/storage/storage.hpp"

namespace relay::purge {

using SysTime = std::chrono::system_clock::time_point;

class RecentPurges {
 public:
  static constexpr std::size_t kKeep = 4096;
  static constexpr std::chrono::hours kKeepFor{1};

  void record(const storage::PurgeRequest& request);
  // Did a purge at or after `since` match an entry under `primary` with `tags`?
  bool purged_since(std::string_view primary, std::span<const std::string> tags, SysTime since) const;

 private:
  struct Entry {
    storage::PurgeSelector selector;
    SysTime at;
  };
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;      // in order of recording
  SysTime forgotten_until_{};      // the latest `at` among entries dropped
};

// Wraps a fill's writer: commit() fails, publishing nothing, when a purge
// matching the entry happened since its request went to the origin.
std::unique_ptr<storage::BodyWriter> guard_fill(std::unique_ptr<storage::BodyWriter> writer,
                                                std::shared_ptr<const RecentPurges> recent, std::string primary,
                                                std::vector<std::string> tags, SysTime request_time);

}  // namespace relay::purge
