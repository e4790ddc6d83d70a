// AcceptBackoff (accept_backoff.hpp).
#include "relay/server/accept_backoff.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;

asio::awaitable<void> AcceptBackoff::failed(const boost::system::error_code& ec) {
  if (failures_++ == 0) {
    const bool descriptors = ec.value() == EMFILE || ec.value() == ENFILE;
    log::warn(listener_, ": accept failed: ", ec.message(),
              descriptors ? " (out of file descriptors: raise LimitNOFILE or ulimit -n)" : "",
              "; open connections go on, new ones wait in the backlog while accepts are retried");
  }
  asio::steady_timer pause(co_await asio::this_coro::executor, pause_);
  pause_ = std::min(pause_ * 2, longest_pause);
  co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
}

void AcceptBackoff::succeeded() {
  if (failures_ != 0) log::info(listener_, ": accepting again after ", failures_, " failed accepts");
  failures_ = 0;
  pause_ = first_pause;
}

}  // namespace relay::server
