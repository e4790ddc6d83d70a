// A one-waiter wake-up built on a steady_timer: notify() wakes the waiting
// coroutine, a deadline bounds the wait. Callers re-check their condition in
// a loop, so a notify() that arrives while nobody waits is harmless: the
// condition is checked before every wait.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace relay {

class AsyncEvent {
 public:
  using clock = std::chrono::steady_clock;

  explicit AsyncEvent(const boost::asio::any_io_executor& ex) : timer_(ex) {}

  void notify() { timer_.cancel(); }

  // Returns false when the deadline passed without a notify().
  boost::asio::awaitable<bool> wait_until(clock::time_point deadline) {
    timer_.expires_at(deadline);
    auto [ec] = co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return ec == boost::asio::error::operation_aborted;
  }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace relay
