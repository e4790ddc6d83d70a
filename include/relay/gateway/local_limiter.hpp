// The rate limiter's memory in this process: one GCRA timestamp (TAT) per
// key, shared by every event-loop thread. Keys are spread over shards, each
// with its own mutex, so threads seldom contend; a decision is O(1): one
// hash lookup and a move to the front of the shard's recency list.
//
// Memory is bounded: at most max_keys keys in all. A key whose TAT has
// passed holds a full bucket, exactly like an unknown key, so it can be
// forgotten; each decision forgets up to two such keys from the cold end of
// its shard. When a shard is still full, its least recently used key goes
// (evicted; that key starts again with a full bucket: the limit is exact for
// the most active keys, which are the ones it exists for).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "relay/gateway/gcra.hpp"

namespace relay::gateway {

class LocalLimiter {
 public:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kDefaultMaxKeys = 100'000;

  explicit LocalLimiter(std::size_t max_keys = kDefaultMaxKeys);

  // One request under `key` at `now` (any monotonic clock, the same for every call).
  Decision decide(std::string_view key, const Bucket& bucket, Micros now);

  std::size_t size() const;  // keys remembered now
  std::uint64_t evicted() const noexcept { return evicted_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    Micros tat{};
    std::list<const std::string*>::iterator recency;  // points at the map's own key
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry> keys;
    std::list<const std::string*> recency;  // most recently used first
  };

  // Forgets expired keys at the cold end (at most `budget`), then the
  // coldest one while the shard is over its share.
  void trim(Shard& shard, Micros now, std::size_t budget);

  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> evicted_{0};
};

}  // namespace relay::gateway
