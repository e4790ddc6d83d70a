// Raw bytes to and from the client after a protocol switch. No watchdog
// here: the tunnel keeps its own idle deadline (proxy/tunnel.cpp), and a
// drain or a terminal cancel closes the socket under it.
#include "relay/server/client_stream.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace relay::server {

namespace asio = boost::asio;

asio::awaitable<Result<std::size_t>> ClientStream::read_some(std::span<char> into) {
  if (pending_at_ < pending_.size()) {
    auto n = std::min(into.size(), pending_.size() - pending_at_);
    std::memcpy(into.data(), pending_.data() + pending_at_, n);
    pending_at_ += n;
    if (pending_at_ == pending_.size()) std::string().swap(pending_);
    co_return n;
  }
  auto [ec, n] = co_await socket_.read_some(asio::buffer(into.data(), into.size()));
  if (ec == asio::error::eof) co_return std::size_t{0};
  if (ec) co_return make_error_code(Errc::client_closed);
  co_return n;
}

asio::awaitable<Result<void>> ClientStream::write_all(std::span<const char> bytes) {
  auto [ec, n] = co_await socket_.write(asio::buffer(bytes.data(), bytes.size()));
  if (ec) co_return make_error_code(Errc::client_closed);
  co_return Result<void>{};
}

asio::awaitable<void> ClientStream::shutdown_send() {
  socket_.shutdown_send();
  co_return;
}

void ClientStream::close() noexcept {
  // Shut down rather than close: the session owns the descriptor and closes it.
  boost::system::error_code ignored;
  socket_.tcp().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.cancel();
}

}  // namespace relay::server
