// Per-kind rate limiting (see rate_limit.hpp). Kinds are few (one per
// error), so the map never needs trimming.
#include "relay/util/rate_limit.hpp"

namespace relay {

RateLimiter::Verdict RateLimiter::admit(const std::string& kind, clock::time_point now) {
  auto [it, first] = kinds_.try_emplace(kind, Seen{now, 0});
  if (first) return Verdict{true, 0, {}};
  auto& seen = it->second;
  if (now - seen.last_passed < interval_) {
    ++seen.suppressed;
    return Verdict{false, seen.suppressed, now - seen.last_passed};
  }
  Verdict verdict{true, seen.suppressed, now - seen.last_passed};
  seen = Seen{now, 0};
  return verdict;
}

}  // namespace relay
