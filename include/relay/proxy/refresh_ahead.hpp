// Refresh-ahead ([cache.refresh_ahead]): which fresh stored responses are
// popular enough to be revalidated before they expire. Hits are counted
// per stored response and per lifetime: a response stored (or freshened)
// anew starts again from zero, so "popular" means popular now. One
// tracker serves every thread; its map is split into shards, each with
// its own mutex, so two threads hitting different keys rarely meet (and
// nothing is touched while refresh-ahead is off). Bounded: max_tracked
// entries; expired ones are dropped to make room.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace relay::proxy {

class RefreshAhead {
 public:
  using Clock = std::chrono::system_clock;
  using Seconds = std::chrono::seconds;

  struct Settings {
    int min_hits = 10;
    double at = 0.8;
    int max_concurrent = 16;
    std::size_t max_tracked = 100'000;
  };
  enum class Decision {
    None,     // nothing to do
    Refresh,  // start one refresh now; call finished() when it has ended
    Busy,     // it is time, but max_concurrent refreshes run already
  };

  // A hit on a fresh stored response: `stored_at` (its response time) names
  // its current lifetime, `age` and `lifetime` are the freshness verdict's.
  // Refresh at most once per lifetime, on the first hit that finds the
  // response both past `at` of its lifetime and hit min_hits times.
  Decision on_fresh_hit(std::string_view key, Clock::time_point stored_at, Seconds age, Seconds lifetime,
                        const Settings& settings, Clock::time_point now);
  // A refresh that on_fresh_hit started has ended (whatever its outcome).
  void finished() noexcept { running_.fetch_sub(1, std::memory_order_relaxed); }
  // The key's refresh could not start after all (another fill of the key
  // runs): a later hit may try again.
  void not_started(std::string_view key);

  std::size_t tracked() const noexcept { return tracked_.load(std::memory_order_relaxed); }
  int running() const noexcept { return running_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    Clock::time_point stored_at;
    Clock::time_point expires_at;
    std::uint32_t hits = 0;
    bool started = false;
  };
  // Looked up by string_view: a hit allocates nothing.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries;
  };
  Shard& shard_of(std::string_view key) noexcept;
  // Drops the shard's expired entries; the shard's mutex is held.
  void drop_expired(Shard& shard, Clock::time_point now);

  static constexpr std::size_t kShards = 32;
  std::array<Shard, kShards> shards_;
  std::atomic<std::size_t> tracked_{0};
  std::atomic<int> running_{0};
};

}  // namespace relay::proxy
