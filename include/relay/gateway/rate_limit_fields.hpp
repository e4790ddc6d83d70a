// The response fields a rate limit writes, following
// draft-ietf-httpapi-ratelimit-headers-11 (May 2026; §3 RateLimit-Policy,
// §4 RateLimit, §6 Retry-After next to them):
//   RateLimit-Policy: "default";q=5;w=1     quota q requests per window w seconds
//   RateLimit: "default";r=4;t=1            r left now, t seconds of effective window
// and Retry-After (RFC 9110 §10.2.3) in whole seconds, rounded up. Pure.
//
// A GCRA bucket maps onto a policy as: q = the bucket size (whole
// requests), w = the time a full bucket takes to refill (burst * per/rate),
// so rate 5 burst 5 per second reads q=5;w=1 and rate 100 per minute q=100;w=60.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/gateway/gcra.hpp"

namespace relay::gateway {

// Whole seconds of a duration, rounded up (a client that waits that long
// finds the request admitted); at least `floor`.
std::int64_t ceil_seconds(Micros d, std::int64_t floor = 0);

// RateLimit-Policy's value for the policy `name` (an sf-string).
std::string policy_field(std::string_view name, const Bucket& bucket);
// RateLimit's value for one decision. t is the time until the bucket is
// full again when admitted; when refused it is Retry-After, since §6 has
// Retry-After point no earlier than the end of the effective window.
std::string ratelimit_field(std::string_view name, const Decision& decision);
// Retry-After of a refused request: seconds, rounded up, at least 1.
std::string retry_after_field(const Decision& decision);

}  // namespace relay::gateway
