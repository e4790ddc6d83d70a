// GCRA (gcra.hpp). Times are whole microseconds: Redis's TIME has no finer
// grain, and the fleet's script must compute exactly what this does.
#include "relay/gateway/gcra.hpp"

#include <algorithm>
#include <cmath>

#include "relay/config/rate_limit.hpp"

namespace relay::gateway {

Bucket Bucket::of(const config::RateLimitConfig& limit) {
  const double per_us = std::chrono::duration<double, std::micro>(limit.per).count();
  Bucket b;
  b.interval = Micros(std::max<std::int64_t>(1, std::llround(per_us / limit.rate)));
  b.burst = config::effective_burst(limit);
  return b;
}

Micros Bucket::tolerance() const {
  return Micros(std::llround(burst * static_cast<double>(interval.count())));
}

Decision decision_from(bool allowed, Micros retry_after, Micros reset_after, const Bucket& bucket) {
  Decision d;
  d.allowed = allowed;
  d.limit = static_cast<std::int64_t>(std::floor(bucket.burst));
  d.reset_after = std::max(Micros(0), reset_after);
  d.retry_after = allowed ? Micros(0) : std::max(Micros(1), retry_after);
  // What is left of the bucket, in whole requests.
  const auto room = bucket.tolerance() - d.reset_after;
  d.remaining =
      room.count() <= 0 ? 0 : std::min<std::int64_t>(d.limit, room.count() / bucket.interval.count());
  return d;
}

Step gcra_step(std::optional<Micros> tat, Micros now, const Bucket& bucket) {
  const Micros from = tat ? std::max(*tat, now) : now;
  const Micros next = from + bucket.interval;
  const Micros allow_at = next - bucket.tolerance();
  if (now < allow_at) return {decision_from(false, allow_at - now, from - now, bucket), std::nullopt};
  return {decision_from(true, Micros(0), next - now, bucket), next};
}

}  // namespace relay::gateway
