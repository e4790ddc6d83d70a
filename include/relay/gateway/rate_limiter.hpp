// The process-wide rate limiter: every event loop's requests decide against
// the same buckets. A limit with fleet = true asks the shared Redis (one
// atomic script per decision, fleet_buckets.hpp); when Redis cannot answer
// in time that decision is made here instead, counted as degraded and
// logged (rate-limited), so an outage loosens the limit to per-instance
// rather than failing requests or letting everything through.
//
// It outlives configuration reloads (built once in server.cpp): a reload
// that changes a rate keeps every key's state, and the next decision simply
// uses the new bucket. Metrics: relay_rate_limited_total{route} (429s) and
// relay_rate_limit_degraded_total{route} (fleet decisions made locally).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "relay/gateway/fleet_buckets.hpp"
#include "relay/gateway/gcra.hpp"
#include "relay/gateway/local_limiter.hpp"

namespace prometheus {
class Registry;
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace relay::gateway {

class RateLimiter {
 public:
  // fleet: null when no Redis is configured (fleet limits then decide locally, counted as degraded).
  RateLimiter(std::shared_ptr<FleetBuckets> fleet, prometheus::Registry& registry,
              std::size_t max_keys = LocalLimiter::kDefaultMaxKeys);

  // The counters of one route, resolved once by its policy.
  struct Counters {
    prometheus::Counter* limited = nullptr;
    prometheus::Counter* degraded = nullptr;
  };
  Counters counters(std::string_view route);

  // One request under `key` of `route`'s limit.
  boost::asio::awaitable<Decision> decide(std::string_view route, std::string_view key, const Bucket& bucket,
                                          bool fleet, const Counters& counters);

  LocalLimiter& local() noexcept { return local_; }

 private:
  std::shared_ptr<FleetBuckets> fleet_;
  LocalLimiter local_;
  prometheus::Family<prometheus::Counter>* limited_ = nullptr;
  prometheus::Family<prometheus::Counter>* degraded_ = nullptr;
};

}  // namespace relay::gateway
