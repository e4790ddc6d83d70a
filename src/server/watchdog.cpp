// Connection deadline timer (see watchdog.hpp).
#include "relay/server/watchdog.hpp"

#include <algorithm>
#include <utility>

namespace relay::server {

Watchdog::Watchdog(boost::asio::ip::tcp::socket& socket) : socket_(socket), timer_(socket.get_executor()) {}

void Watchdog::start() { wait(); }

void Watchdog::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Watchdog::expire_at(clock::time_point deadline) {
  deadline_ = deadline;
  arm_by(deadline);
}

void Watchdog::interrupt_at(clock::time_point deadline) {
  interrupt_ = deadline;
  interrupted_ = false;
  arm_by(deadline);
}

bool Watchdog::clear_interrupt() {
  interrupt_ = clock::time_point::max();
  return std::exchange(interrupted_, false);
}

void Watchdog::arm_by(clock::time_point deadline) {
  if (deadline < armed_ && !stopped_) {
    armed_ = deadline;
    timer_.expires_at(deadline);  // cancels the pending wait; wait() re-arms
  }
}

void Watchdog::wait() {
  timer_.expires_at(armed_);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code&) {
    if (self->stopped_) return;
    auto now = clock::now();
    if (self->deadline_ <= now) {
      self->fired_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);
      self->socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      return;
    }
    if (self->interrupt_ <= now) {
      self->interrupt_ = clock::time_point::max();
      self->interrupted_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);
    }
    self->armed_ = std::min(self->deadline_, self->interrupt_);
    self->wait();
  });
}

}  // namespace relay::server
