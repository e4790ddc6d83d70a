// Per-kind rate limiting of repeated events (log lines): the first event
// of a kind passes, later ones within `interval` of the last that passed
// are counted, and the first after the interval passes with that count.
// The clock is a parameter, so tests need not sleep. Not thread-safe: the
// caller serialises (the log does, under its own mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace relay {

class RateLimiter {
 public:
  using clock = std::chrono::steady_clock;

  struct Verdict {
    bool pass = false;
    std::uint64_t suppressed = 0;  // events left out since the last that passed
    clock::duration since{};       // how long ago that one was
  };

  explicit RateLimiter(clock::duration interval) : interval_(interval) {}

  Verdict admit(const std::string& kind, clock::time_point now);

 private:
  struct Seen {
    clock::time_point last_passed;
    std::uint64_t suppressed = 0;
  };
  clock::duration interval_;
  std::unordered_map<std::string, Seen> kinds_;
};

}  // namespace relay
