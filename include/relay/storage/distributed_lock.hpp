// A lock shared by every relay instance pointed at the same Redis, so only
// one of them fetches a given object from the origin (issue: stampedes
// across instances). SET name token NX PX ttl to take it, compare-and-delete
// (a Lua script) to release it, compare-and-pexpire to extend it while a long
// fill runs. A holder that dies simply lets its lock expire.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "relay/config/config.hpp"
#include "relay/util/result.hpp"

namespace relay::storage {

class DistributedLock {
 public:
  struct Held {
    std::string name;
    std::string token;
  };
  virtual ~DistributedLock() = default;
  // The lock, or nullopt when another instance holds it; an error when Redis
  // cannot be asked (the caller degrades to local coalescing).
  virtual boost::asio::awaitable<Result<std::optional<Held>>> try_acquire(const std::string& name,
                                                                          std::chrono::milliseconds ttl) = 0;
  // False when the lock was lost (expired and maybe taken by another).
  virtual boost::asio::awaitable<Result<bool>> extend(const Held& held, std::chrono::milliseconds ttl) = 0;
  // Best effort: an unreleased lock expires by itself.
  virtual boost::asio::awaitable<void> release(const Held& held) = 0;

  // Wakes a waiter when another instance's fill of a key may have moved on
  // (a notice through Redis pub/sub), so that it need not poll.
  class ChangeWatch {
   public:
    virtual ~ChangeWatch() = default;
    // Until a notice for the key, or `deadline`.
    virtual boost::asio::awaitable<void> wait_until(std::chrono::steady_clock::time_point deadline) = 0;
    // Notices flow now: the waiter may look at Redis rarely.
    virtual bool live() const = 0;
  };
  // Null: no notices, poll.
  virtual std::unique_ptr<ChangeWatch> watch(const std::string& /*name*/,
                                             const boost::asio::any_io_executor& /*executor*/) {
    return nullptr;
  }
};

// Locks live under <key_prefix>lock:<name>.
std::shared_ptr<DistributedLock> make_redis_lock(const config::RedisStorageConfig& cfg);

}  // namespace relay::storage
