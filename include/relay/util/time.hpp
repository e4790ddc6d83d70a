// Saturating arithmetic for wall-clock times. std::chrono::system_clock
// counts nanoseconds in 64 bits with libstdc++, so its time points end in
// April 2262 (and begin in 1677). An HTTP-date, an Expires, a lifetime or a
// keep time may reach past that; plain `+` would then wrap into the distant
// past and make a fresh entry look long expired. Every time computed from
// origin input and every duration added to a stored time goes through
// these, which clamp to the representable range instead.
#pragma once

#include <chrono>

namespace relay {

using SysTime = std::chrono::system_clock::time_point;

// t + d, clamped to [SysTime::min(), SysTime::max()].
constexpr SysTime saturating_add(SysTime t, std::chrono::seconds d) noexcept {
  using Rep = SysTime::rep;
  constexpr Rep ticks_per_second = std::chrono::duration_cast<SysTime::duration>(std::chrono::seconds{1}).count();
  const SysTime limit = d.count() < 0 ? SysTime::min() : SysTime::max();
  Rep ticks = 0;
  Rep sum = 0;
  if (__builtin_mul_overflow(static_cast<Rep>(d.count()), ticks_per_second, &ticks)) return limit;
  if (__builtin_add_overflow(t.time_since_epoch().count(), ticks, &sum)) return limit;
  return SysTime{SysTime::duration{sum}};
}

// A whole-second time (a parsed HTTP-date, years 0 to 9999) as a SysTime,
// clamped.
constexpr SysTime to_sys_time(std::chrono::sys_seconds t) noexcept {
  return saturating_add(SysTime{}, t.time_since_epoch());
}

// to - from in whole seconds, rounded down; exact for any two SysTimes
// (their difference in ticks may overflow, in seconds it cannot).
constexpr std::chrono::seconds seconds_between(SysTime from, SysTime to) noexcept {
  SysTime::rep diff = 0;
  if (!__builtin_sub_overflow(to.time_since_epoch().count(), from.time_since_epoch().count(), &diff)) {
    return std::chrono::floor<std::chrono::seconds>(SysTime::duration{diff});
  }
  // Centuries apart: a second either way does not matter.
  return std::chrono::floor<std::chrono::seconds>(to.time_since_epoch()) -
         std::chrono::floor<std::chrono::seconds>(from.time_since_epoch());
}

// a + b, clamped to the range of std::chrono::seconds.
constexpr std::chrono::seconds saturating_sum(std::chrono::seconds a, std::chrono::seconds b) noexcept {
  std::chrono::seconds::rep sum = 0;
  if (__builtin_add_overflow(a.count(), b.count(), &sum)) {
    return b.count() < 0 ? std::chrono::seconds::min() : std::chrono::seconds::max();
  }
  return std::chrono::seconds{sum};
}

}  // namespace relay
