// What a backend offers the maintenance scheduler: a sweep that removes what
// lazy expiry would otherwise leave on disk until size pressure evicts it.
// Kept apart from the Storage interface on purpose: only backends with
// something to clean up implement it (disk today; Redis expires keys by TTL
// and keeps no index of its own, so it has nothing to sweep), and the
// decorators around a backend need not know it exists.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>

#include "relay/util/result.hpp"

namespace relay::storage {

struct SweepReport {
  std::uint64_t records_removed = 0;  // entries whose keep_for had passed
  std::uint64_t bodies_removed = 0;   // body files no remaining record named
  std::uint64_t tmp_removed = 0;      // abandoned files in tmp/
  std::uint64_t bytes_freed = 0;      // records, bodies and tmp/ files together
};

class Maintainable {
 public:
  virtual ~Maintainable() = default;
  // Safe alongside every Storage call from any event-loop thread; the slow
  // part runs off the event loop.
  virtual boost::asio::awaitable<Result<SweepReport>> sweep() = 0;
  // The task's name in metrics, logs and lock names ("disk_sweep").
  virtual std::string maintenance_task() const = 0;
  // What the sweep works on, as a lock name part: two processes with the
  // same scope must never sweep at the same time.
  virtual std::string maintenance_scope() const = 0;
};

}  // namespace relay::storage
