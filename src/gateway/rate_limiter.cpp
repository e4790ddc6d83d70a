// RateLimiter (rate_limiter.hpp): the fleet's answer when it has one, this
// process's buckets otherwise.
#include "relay/gateway/rate_limiter.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>

#include "relay/util/error_table.hpp"

namespace relay::gateway {

namespace {
Micros steady_now() {
  return std::chrono::duration_cast<Micros>(std::chrono::steady_clock::now().time_since_epoch());
}
}  // namespace

RateLimiter::RateLimiter(std::shared_ptr<FleetBuckets> fleet, prometheus::Registry& registry,
                         std::size_t max_keys)
    : fleet_(std::move(fleet)), local_(max_keys) {
  limited_ =
      &prometheus::BuildCounter()
           .Name("relay_rate_limited_total")
           .Help("Requests refused with 429 by a rate limit, by route (\"default\": [server.rate_limit])")
           .Register(registry);
  degraded_ =
      &prometheus::BuildCounter()
           .Name("relay_rate_limit_degraded_total")
           .Help("Fleet-wide rate-limit decisions made locally because Redis could not answer in time")
           .Register(registry);
}

RateLimiter::Counters RateLimiter::counters(std::string_view route) {
  const std::string label(route);
  return {&limited_->Add({{"route", label}}), &degraded_->Add({{"route", label}})};
}

boost::asio::awaitable<Decision> RateLimiter::decide(std::string_view route, std::string_view key,
                                                     const Bucket& bucket, bool fleet,
                                                     const Counters& counters) {
  std::string name(route);
  name.append(":").append(key);
  if (fleet) {
    error_code why = make_error_code(Errc::storage_unavailable);
    if (fleet_) {
      auto shared = co_await fleet_->decide(name, bucket);
      if (shared) {
        if (!shared->allowed) counters.limited->Increment();
        co_return *shared;
      }
      why = shared.error();
    }
    counters.degraded->Increment();
    log::warn_for(why, "rate limit \"", route, "\": redis did not answer (", why.message(),
                  "); deciding with this instance's own buckets");
  }
  auto decision = local_.decide(name, bucket, steady_now());
  if (!decision.allowed) counters.limited->Increment();
  co_return decision;
}

}  // namespace relay::gateway
