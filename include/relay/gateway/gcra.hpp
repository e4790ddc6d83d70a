// The rate limiter's arithmetic: GCRA, the generic cell rate algorithm
// (ITU-T I.371; the "virtual scheduling" form), equivalent to a token
// bucket but keeping one timestamp per key instead of a count and a time.
// A key's TAT (theoretical arrival time) is when its bucket would be full
// again; a request is admitted when TAT + interval - burst * interval <= now,
// and then moves TAT on by one interval. Pure and clock-free: `now` is a
// parameter, so tests need not sleep. The Redis script of the fleet-wide
// limiter (storage/redis/rate_limit.cpp) runs the same step, and both turn
// their result into a Decision through decision_from().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "relay/config/config.hpp"

namespace relay::gateway {

using Micros = std::chrono::microseconds;

// A limit as the arithmetic sees it.
struct Bucket {
  Micros interval{};  // one request's worth of time: per / rate
  double burst = 1;   // requests the full bucket holds (>= 1)

  // From a configured limit with rate > 0.
  static Bucket of(const config::RateLimitConfig& limit);
  // How far TAT may run ahead of now: burst * interval.
  Micros tolerance() const;
  bool operator==(const Bucket&) const = default;
};

// One request's verdict, with what the RateLimit fields and Retry-After tell.
struct Decision {
  bool allowed = true;
  std::int64_t limit = 0;      // whole requests the full bucket holds
  std::int64_t remaining = 0;  // requests that would pass right now (after this one)
  Micros reset_after{};        // until the bucket is full again
  Micros retry_after{};        // refused: until one request would pass; 0 when allowed
};

// The result of one GCRA step: the decision, and the key's new TAT when the
// request was admitted (a refused request leaves the key as it was).
struct Step {
  Decision decision;
  std::optional<Micros> new_tat;
};

// One request at `now` against a key whose TAT is `tat` (nullopt for a key
// never seen, or forgotten: a full bucket). Times share any epoch.
Step gcra_step(std::optional<Micros> tat, Micros now, const Bucket& bucket);

// The Decision from what a step found: admitted or not, how long until a
// request would pass (refused), and how long until the bucket is full.
Decision decision_from(bool allowed, Micros retry_after, Micros reset_after, const Bucket& bucket);

}  // namespace relay::gateway
