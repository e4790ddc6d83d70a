// Saturating wall-clock arithmetic (relay/util/time.hpp): the clock's
// 64-bit nanosecond range ends in 2262, and nothing computed from origin
// input may wrap around it.
#include <doctest/doctest.h>

#include <chrono>

#include "relay/util/time.hpp"

using namespace std::chrono_literals;
using relay::SysTime;
using std::chrono::seconds;

namespace {
const SysTime kMidnight = SysTime{std::chrono::sys_days{std::chrono::year{2024} / 1 / 15}};
}  // namespace

TEST_CASE("time: saturating_add clamps at both ends of the clock") {
  CHECK(relay::saturating_add(kMidnight, 60s) == kMidnight + 60s);
  CHECK(relay::saturating_add(kMidnight, -60s) == kMidnight - 60s);
  CHECK(relay::saturating_add(kMidnight, 0s) == kMidnight);
  // 240 years fits in seconds but not in nanoseconds after kMidnight.
  CHECK(relay::saturating_add(kMidnight, seconds{240LL * 365 * 86400}) == SysTime::max());
  CHECK(relay::saturating_add(kMidnight, seconds::max()) == SysTime::max());
  CHECK(relay::saturating_add(kMidnight, seconds::min()) == SysTime::min());
  CHECK(relay::saturating_add(SysTime::max(), 1s) == SysTime::max());
  CHECK(relay::saturating_add(SysTime::max(), -1s) == SysTime::max() - 1s);
  CHECK(relay::saturating_add(SysTime::min(), -1s) == SysTime::min());
}

TEST_CASE("time: to_sys_time clamps whole-second times outside the clock's range") {
  using std::chrono::sys_days;
  using std::chrono::sys_seconds;
  using std::chrono::year;
  CHECK(relay::to_sys_time(sys_seconds{sys_days{year{2024} / 1 / 15}}) == kMidnight);
  CHECK(relay::to_sys_time(sys_seconds{sys_days{year{2300} / 1 / 1}}) == SysTime::max());
  CHECK(relay::to_sys_time(sys_seconds{sys_days{year{9999} / 12 / 31}}) == SysTime::max());
  CHECK(relay::to_sys_time(sys_seconds{sys_days{year{1000} / 1 / 1}}) == SysTime::min());
}

TEST_CASE("time: seconds_between is exact and rounds down, even across the whole range") {
  CHECK(relay::seconds_between(kMidnight, kMidnight + 90s) == 90s);
  CHECK(relay::seconds_between(kMidnight + 90s, kMidnight) == -90s);
  CHECK(relay::seconds_between(kMidnight, kMidnight + 1999ms) == 1s);
  CHECK(relay::seconds_between(kMidnight + 1999ms, kMidnight) == -2s);  // floor, like chrono::floor
  const auto whole = relay::seconds_between(SysTime::min(), SysTime::max());
  CHECK(whole == std::chrono::floor<seconds>(SysTime::max().time_since_epoch()) -
                     std::chrono::floor<seconds>(SysTime::min().time_since_epoch()));
  CHECK(whole > seconds{580LL * 365 * 86400});
  CHECK(relay::seconds_between(SysTime::max(), SysTime::min()) < seconds{-580LL * 365 * 86400});
}

TEST_CASE("time: saturating_sum clamps second counts") {
  CHECK(relay::saturating_sum(5s, 7s) == 12s);
  CHECK(relay::saturating_sum(seconds::max(), 1s) == seconds::max());
  CHECK(relay::saturating_sum(seconds::max(), seconds::max()) == seconds::max());
  CHECK(relay::saturating_sum(seconds::min(), -1s) == seconds::min());
  CHECK(relay::saturating_sum(seconds::max(), -1s) == seconds::max() - 1s);
}
