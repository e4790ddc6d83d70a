// Member choice and health bookkeeping for one pool (origin_pool.hpp).
#include "relay/gateway/origin_pool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace relay::gateway {

namespace {

// FNV-1a over the key, then a mix with the member index: a stable score per
// (key, member) for rendezvous hashing.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::int64_t ticks(Clock::time_point t) { return t.time_since_epoch().count(); }

}  // namespace

OriginPool::OriginPool(const config::OriginPool& cfg)
    : name_(cfg.name), balance_(cfg.balance), check_(cfg.health_check), passive_(cfg.passive) {
  for (const auto& m : cfg.members) {
    auto member = std::make_unique<Member>();
    member->url = config::UpstreamUrl::parse(m.url);
    member->weight = m.weight;
    member->priority = m.priority;
    members_.push_back(std::move(member));
  }
}

bool OriginPool::healthy(std::size_t member, Clock::time_point now) const {
  const auto& m = *members_[member];
  const auto until = m.ejected_until.load(std::memory_order_relaxed);
  return m.up.load(std::memory_order_relaxed) && (until == 0 || until <= ticks(now));
}

std::optional<std::size_t> OriginPool::pick(std::string_view hash_key, std::span<const std::size_t> tried,
                                            Clock::time_point now) {
  const auto untried = [&](std::size_t i) { return std::find(tried.begin(), tried.end(), i) == tried.end(); };
  // The best priority with a healthy untried member; failing that (panic),
  // the best priority with any untried member.
  std::vector<std::size_t> candidates;
  for (bool need_health : {true, false}) {
    int best = std::numeric_limits<int>::max();
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (untried(i) && (!need_health || healthy(i, now))) best = std::min(best, members_[i]->priority);
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (untried(i) && members_[i]->priority == best && (!need_health || healthy(i, now))) candidates.push_back(i);
    if (!candidates.empty()) break;
  }
  if (candidates.empty()) return std::nullopt;
  if (candidates.size() == 1) return candidates.front();

  switch (balance_) {
    case config::Balance::ConsistentHash: {
      // Weighted rendezvous hashing: each key goes to the member with the
      // best score, so a member leaving moves only its own keys.
      const auto key_hash = fnv1a(hash_key);
      double best_score = -std::numeric_limits<double>::infinity();
      std::size_t chosen = candidates.front();
      for (auto i : candidates) {
        const double unit = (static_cast<double>(mix(key_hash ^ mix(i + 1)) >> 11) + 0.5) / 9007199254740992.0;
        const double score = -static_cast<double>(members_[i]->weight) / std::log(unit);
        if (score > best_score) best_score = score, chosen = i;
      }
      return chosen;
    }
    case config::Balance::LeastConnections: {
      // Fewest requests in flight per unit of weight; ties rotate.
      const auto start = next_.fetch_add(1, std::memory_order_relaxed);
      std::size_t chosen = candidates[start % candidates.size()];
      double least = std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < candidates.size(); ++k) {
        const auto i = candidates[(start + k) % candidates.size()];
        const double load =
            static_cast<double>(members_[i]->active.load(std::memory_order_relaxed)) / members_[i]->weight;
        if (load < least) least = load, chosen = i;
      }
      return chosen;
    }
    case config::Balance::RoundRobin:
      break;
  }
  // Weighted round-robin: position n falls in a member's share of the total weight.
  std::uint64_t total = 0;
  for (auto i : candidates) total += static_cast<std::uint64_t>(members_[i]->weight);
  auto position = next_.fetch_add(1, std::memory_order_relaxed) % total;
  for (auto i : candidates) {
    const auto weight = static_cast<std::uint64_t>(members_[i]->weight);
    if (position < weight) return i;
    position -= weight;
  }
  return candidates.back();
}

bool OriginPool::eject_if_due(Member& m, Clock::time_point now) {
  if (passive_.failures <= 0) return false;
  const int failures = m.failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures < passive_.failures) return false;
  m.failures.store(0, std::memory_order_relaxed);
  const auto until = ticks(now + std::chrono::duration_cast<Clock::duration>(passive_.cooldown));
  return m.ejected_until.exchange(until, std::memory_order_relaxed) <= ticks(now);
}

bool OriginPool::report_connect_failure(std::size_t member, Clock::time_point now) {
  return eject_if_due(*members_[member], now);
}

bool OriginPool::report_response(std::size_t member, int status, Clock::time_point now) {
  auto& m = *members_[member];
  if (passive_.on_5xx && status >= 500) return eject_if_due(m, now);
  m.failures.store(0, std::memory_order_relaxed);
  return false;
}

std::optional<bool> OriginPool::report_check(std::size_t member, bool ok) {
  auto& m = *members_[member];
  // Only the member's one checker writes the streak: no lost updates.
  int streak = m.check_streak.load(std::memory_order_relaxed);
  streak = ok ? std::max(streak, 0) + 1 : std::min(streak, 0) - 1;
  m.check_streak.store(streak, std::memory_order_relaxed);
  const bool was_up = m.up.load(std::memory_order_relaxed);
  if (was_up && streak <= -check_.fall) {
    m.up.store(false, std::memory_order_relaxed);
    return false;
  }
  if (!was_up && streak >= check_.rise) {
    m.up.store(true, std::memory_order_relaxed);
    m.ejected_until.store(0, std::memory_order_relaxed);  // a passing check ends a passive ejection too
    return true;
  }
  return std::nullopt;
}

OriginPool::InFlight::InFlight(OriginPool& pool, std::size_t member) : counter_(&pool.members_[member]->active) {
  counter_->fetch_add(1, std::memory_order_relaxed);
}
OriginPool::InFlight::InFlight(InFlight&& other) noexcept : counter_(std::exchange(other.counter_, nullptr)) {}
OriginPool::InFlight& OriginPool::InFlight::operator=(InFlight&& other) noexcept {
  if (this != &other) {
    if (counter_) counter_->fetch_sub(1, std::memory_order_relaxed);
    counter_ = std::exchange(other.counter_, nullptr);
  }
  return *this;
}
OriginPool::InFlight::~InFlight() {
  if (counter_) counter_->fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace relay::gateway
