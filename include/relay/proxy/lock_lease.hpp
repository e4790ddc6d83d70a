// A fleet lock held by this instance, renewed while its holder lives: the
// lock's TTL is short (cache.coalesce.lock_ttl) and a heartbeat extends it
// every third of that, whether or not the origin is sending, so a holder
// that dies (kill -9, a frozen process) frees its key within one TTL
// instead of stranding it for the whole fill age. The renewal runs on the
// executor that took the lock; release() and abandon() may come from any
// thread.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

#include "relay/storage/distributed_lock.hpp"

namespace relay::metrics {
class Metrics;
}

namespace relay::proxy {

class LockLease : public std::enable_shared_from_this<LockLease> {
 public:
  // Starts renewing `held` at once; metrics may be null.
  static std::shared_ptr<LockLease> start(const boost::asio::any_io_executor& executor,
                                          std::shared_ptr<storage::DistributedLock> lock,
                                          storage::DistributedLock::Held held, std::chrono::milliseconds ttl,
                                          metrics::Metrics* metrics);

  const storage::DistributedLock::Held& held() const noexcept { return held_; }
  // Stops renewing and deletes the lock now (if it is still ours).
  boost::asio::awaitable<void> release();
  // For a holder dropped without release(): the renewal stops and releases
  // the lock itself, on its own executor.
  void abandon();

  LockLease(const boost::asio::any_io_executor& executor, std::shared_ptr<storage::DistributedLock> lock,
            storage::DistributedLock::Held held, std::chrono::milliseconds ttl, metrics::Metrics* metrics);

 private:
  enum class State { Held, Released, Abandoned };
  boost::asio::awaitable<void> renew();

  std::shared_ptr<storage::DistributedLock> lock_;
  const storage::DistributedLock::Held held_;
  const std::chrono::milliseconds ttl_;
  metrics::Metrics* const metrics_;
  std::atomic<State> state_{State::Held};
  boost::asio::steady_timer timer_;  // touched on its executor only
};

}  // namespace relay::proxy
