// RefreshAhead (refresh_ahead.hpp): the hit counts and the decision.
#include "relay/proxy/refresh_ahead.hpp"

namespace relay::proxy {

RefreshAhead::Shard& RefreshAhead::shard_of(std::string_view key) noexcept {
  return shards_[KeyHash{}(key) % kShards];
}

void RefreshAhead::drop_expired(Shard& shard, Clock::time_point now) {
  const auto dropped = std::erase_if(shard.entries, [now](const auto& kv) { return kv.second.expires_at <= now; });
  tracked_.fetch_sub(dropped, std::memory_order_relaxed);
}

RefreshAhead::Decision RefreshAhead::on_fresh_hit(std::string_view key, Clock::time_point stored_at, Seconds age,
                                                  Seconds lifetime, const Settings& settings, Clock::time_point now) {
  if (lifetime.count() <= 0) return Decision::None;
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  const auto expires_at = now + (lifetime - age);
  if (it == shard.entries.end()) {
    if (tracked() >= settings.max_tracked) {
      drop_expired(shard, now);
      if (tracked() >= settings.max_tracked) return Decision::None;
    }
    it = shard.entries.emplace(std::string(key), Entry{stored_at, expires_at}).first;
    tracked_.fetch_add(1, std::memory_order_relaxed);
  } else if (it->second.stored_at != stored_at) {
    it->second = Entry{stored_at, expires_at};  // a new lifetime: counted afresh
  }
  auto& entry = it->second;
  ++entry.hits;
  if (entry.started || entry.hits < static_cast<std::uint32_t>(settings.min_hits)) return Decision::None;
  if (static_cast<double>(age.count()) < settings.at * static_cast<double>(lifetime.count())) return Decision::None;
  if (running_.fetch_add(1, std::memory_order_relaxed) >= settings.max_concurrent) {
    running_.fetch_sub(1, std::memory_order_relaxed);
    return Decision::Busy;
  }
  entry.started = true;
  return Decision::Refresh;
}

void RefreshAhead::not_started(std::string_view key) {
  finished();
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  if (auto it = shard.entries.find(key); it != shard.entries.end()) it->second.started = false;
}

}  // namespace relay::proxy
