// Connection deadline timer (see watchdog.hpp).
#include "relay/server/watchdog.hpp"

namespace relay::server {

Watchdog::Watchdog(boost::asio::ip::tcp::socket& socket) : socket_(socket), timer_(socket.get_executor()) {}

void Watchdog::start() { wait(); }

void Watchdog::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Watchdog::expire_at(clock::time_point deadline) {
  deadline_ = deadline;
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
    self->armed_ = self->deadline_;
    self->wait();
  });
}

}  // namespace relay::server
