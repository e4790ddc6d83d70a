// The instant the freshness and policy tests are set at, and the dates
// their responses carry, so every age in them is exact.
#pragma once

#include <chrono>

#include "relay/cache/freshness.hpp"

namespace relay::test {

inline const cache::SysTime kNow = cache::SysTime{std::chrono::sys_days{std::chrono::year{2024} / 1 / 15}} +
                                     std::chrono::hours{12};
inline constexpr const char* kDate = "Mon, 15 Jan 2024 12:00:00 GMT";  // kNow
inline constexpr const char* kLm5d = "Wed, 10 Jan 2024 12:00:00 GMT";  // 432000 s before kDate

}  // namespace relay::test
