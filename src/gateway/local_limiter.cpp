// LocalLimiter (local_limiter.hpp): sharded GCRA timestamps with a recency
// list per shard for expiry and eviction in O(1).
#include "relay/gateway/local_limiter.hpp"

#include <algorithm>
#include <functional>

namespace relay::gateway {

LocalLimiter::LocalLimiter(std::size_t max_keys) : per_shard_(std::max<std::size_t>(1, max_keys / kShards)) {}

Decision LocalLimiter::decide(std::string_view key, const Bucket& bucket, Micros now) {
  auto& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto found = shard.keys.find(std::string(key));
  const bool known = found != shard.keys.end();
  const auto step = gcra_step(known ? std::optional<Micros>(found->second.tat) : std::nullopt, now, bucket);
  if (step.new_tat) {
    if (!known) {
      found = shard.keys.emplace(std::string(key), Entry{}).first;
      shard.recency.push_front(&found->first);
      found->second.recency = shard.recency.begin();
    } else {
      shard.recency.splice(shard.recency.begin(), shard.recency, found->second.recency);
    }
    found->second.tat = *step.new_tat;
  }
  trim(shard, now, 2);
  return step.decision;
}

void LocalLimiter::trim(Shard& shard, Micros now, std::size_t budget) {
  // The cold end holds the keys untouched longest: the likeliest to be full again.
  for (; budget > 0 && !shard.recency.empty(); --budget) {
    const auto coldest = shard.keys.find(*shard.recency.back());
    if (coldest->second.tat > now) break;
    shard.recency.pop_back();
    shard.keys.erase(coldest);
  }
  while (shard.keys.size() > per_shard_) {
    const auto coldest = shard.keys.find(*shard.recency.back());
    shard.recency.pop_back();
    shard.keys.erase(coldest);
    evicted_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::size_t LocalLimiter::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.keys.size();
  }
  return n;
}

}  // namespace relay::gateway
