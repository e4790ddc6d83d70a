// The live state of one [[origins]] pool, shared by every event loop: which
// members are healthy (active checks and passive ejection) and which one a
// request goes to. Thread-safe through atomics only; time is a parameter so
// the choices are tested without sleeping.
//
// Choosing: members of the best (lowest) priority that has a healthy one;
// within it round-robin, least-connections or consistent hashing on the
// cache key, by weight. With no healthy member anywhere every member of the
// best priority is tried anyway (Envoy's "panic" routing): a chance of an
// answer beats a certain 502, and a checker that is wrong must not take a
// whole site down.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/config.hpp"

namespace relay::gateway {

using Clock = std::chrono::steady_clock;

class OriginPool {
 public:
  explicit OriginPool(const config::OriginPool& cfg);

  const std::string& name() const noexcept { return name_; }
  std::size_t size() const noexcept { return members_.size(); }
  const config::UpstreamUrl& url(std::size_t member) const { return members_[member]->url; }

  // The member for a request; `hash_key` is the cache key (consistent
  // hashing), `tried` the members this request already failed on.
  std::optional<std::size_t> pick(std::string_view hash_key, std::span<const std::size_t> tried, Clock::time_point now);

  // Passive ejection: a connect failure (or a 5xx with passive.on_5xx)
  // counts towards passive.failures in a row; any other answer resets it.
  // Returns true when this report ejected the member.
  bool report_connect_failure(std::size_t member, Clock::time_point now);
  bool report_response(std::size_t member, int status, Clock::time_point now);

  // One active check's result; returns the member's health when it changed.
  std::optional<bool> report_check(std::size_t member, bool ok);

  // Healthy: up by the active checks (or none configured) and not ejected.
  bool healthy(std::size_t member, Clock::time_point now) const;

  // Counts a request in flight on a member (least-connections).
  class InFlight {
   public:
    InFlight() = default;
    InFlight(OriginPool& pool, std::size_t member);
    InFlight(InFlight&& other) noexcept;
    InFlight& operator=(InFlight&& other) noexcept;
    ~InFlight();

   private:
    std::atomic<int>* counter_ = nullptr;
  };

 private:
  struct Member {
    config::UpstreamUrl url;
    int weight = 1;
    int priority = 1;
    std::atomic<bool> up{true};           // the active checks' verdict
    std::atomic<int> check_streak{0};     // >0: successes in a row, <0: failures
    std::atomic<int> failures{0};         // passive: failures in a row
    std::atomic<std::int64_t> ejected_until{0};  // Clock ticks; 0 = not ejected
    std::atomic<int> active{0};           // requests in flight
  };
  bool eject_if_due(Member& m, Clock::time_point now);

  std::string name_;
  config::Balance balance_;
  config::HealthCheck check_;
  config::PassiveEjection passive_;
  std::vector<std::unique_ptr<Member>> members_;
  std::atomic<std::uint64_t> next_{0};  // round-robin position
};

}  // namespace relay::gateway
