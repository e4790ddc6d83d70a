// What an accept loop does when accept() fails. Out of file descriptors
// (EMFILE, ENFILE) or kernel buffers, the listening socket stays readable,
// so retrying at once would spin a core while nothing can be accepted.
// The loop waits instead, 10 ms doubling up to 1 s, while its existing
// connections go on; the first failure of an episode is logged with what
// to do about it, and the end of the episode with how many accepts failed.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace relay::server {

class AcceptBackoff {
 public:
  explicit AcceptBackoff(std::string listener) : listener_(std::move(listener)) {}

  // Logs (once per episode) and waits before the next accept.
  boost::asio::awaitable<void> failed(const boost::system::error_code& ec);
  // An accept worked: ends an episode.
  void succeeded();

 private:
  static constexpr std::chrono::milliseconds first_pause{10};
  static constexpr std::chrono::milliseconds longest_pause{1000};
  std::string listener_;
  std::chrono::milliseconds pause_ = first_pause;
  std::uint64_t failures_ = 0;  // in the current episode
};

}  // namespace relay::server
