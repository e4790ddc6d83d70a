// One timer per connection that closes the socket when its deadline passes.
// Moving the deadline later costs nothing (checked when the timer fires);
// only an earlier deadline re-arms the timer. This bounds idle keep-alive,
// slow request heads and stalled writes without a timer per operation.
// A second, softer deadline (interrupt_at) only cancels the socket's pending
// operations: a request body that is too slow ends its read, and the
// connection is still there to carry the 408.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace relay::server {

class Watchdog : public std::enable_shared_from_this<Watchdog> {
 public:
  using clock = std::chrono::steady_clock;

  explicit Watchdog(boost::asio::ip::tcp::socket& socket);
  // Starts the timer loop; stop() must be called before the socket goes away.
  void start();
  void stop();

  void expire_at(clock::time_point deadline);
  void expire_after(clock::duration d) { expire_at(clock::now() + d); }
  void disarm() { expire_at(clock::time_point::max()); }
  bool fired() const noexcept { return fired_; }

  // Cancels the socket's pending operations (without closing it) when
  // `deadline` passes. clear_interrupt() disarms it and says whether it fired.
  void interrupt_at(clock::time_point deadline);
  bool clear_interrupt();

 private:
  void wait();
  void arm_by(clock::time_point deadline);

  boost::asio::ip::tcp::socket& socket_;
  boost::asio::steady_timer timer_;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point interrupt_ = clock::time_point::max();
  clock::time_point armed_ = clock::time_point::max();
  bool interrupted_ = false;
  bool stopped_ = false;
  bool fired_ = false;
};

}  // namespace relay::server
