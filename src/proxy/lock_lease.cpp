// The fleet lock's heartbeat (see lock_lease.hpp).
#include "relay/proxy/lock_lease.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "relay/metrics/metrics.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;

LockLease::LockLease(const asio::any_io_executor& executor, std::shared_ptr<storage::DistributedLock> lock,
                     storage::DistributedLock::Held held, std::chrono::milliseconds ttl, metrics::Metrics* metrics)
    : lock_(std::move(lock)), held_(std::move(held)), ttl_(ttl), metrics_(metrics), timer_(executor) {}

std::shared_ptr<LockLease> LockLease::start(const asio::any_io_executor& executor,
                                            std::shared_ptr<storage::DistributedLock> lock,
                                            storage::DistributedLock::Held held, std::chrono::milliseconds ttl,
                                            metrics::Metrics* metrics) {
  auto lease = std::make_shared<LockLease>(executor, std::move(lock), std::move(held), ttl, metrics);
  asio::co_spawn(executor, [lease]() { return lease->renew(); }, asio::detached);
  return lease;
}

asio::awaitable<void> LockLease::release() {
  auto expected = State::Held;
  if (!state_.compare_exchange_strong(expected, State::Released)) co_return;
  asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
  co_await lock_->release(held_);
}

void LockLease::abandon() {
  auto expected = State::Held;
  if (!state_.compare_exchange_strong(expected, State::Abandoned)) return;
  asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
}

asio::awaitable<void> LockLease::renew() {
  auto self = shared_from_this();  // the lease lives as long as its heartbeat
  for (;;) {
    timer_.expires_after(ttl_ / 3);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    switch (state_.load()) {
      case State::Released:
        co_return;
      case State::Abandoned:
        co_await lock_->release(held_);
        co_return;
      case State::Held:
        break;
    }
    auto extended = co_await lock_->extend(held_, ttl_);
    // Redis unreachable: the next beat tries again; the lock may expire meanwhile.
    if (!extended || *extended) continue;
    if (state_.load() != State::Held) co_return;  // released while the renewal was under way
    if (metrics_) metrics_->record_lock_failure("lost");
    log::warn("fill lock ", held_.name, " expired before its renewal (Redis slow or frozen?); another instance "
              "may fetch the object too");
    co_return;
  }
}

}  // namespace relay::proxy
