// The client's end of a tunnel: the session's socket once a 101 has gone
// out, with the bytes the parser had already read past the upgrade request
// delivered first (a client may send its first frames right behind the
// head). Owned by the session's ResponseWriter; the socket stays the
// session's, which closes it when the exchange is over.
#pragma once

#include <string>

#include "relay/http/byte_stream.hpp"
#include "relay/server/client_socket.hpp"

namespace relay::server {

class ClientStream final : public http::ByteStream {
 public:
  ClientStream(ClientSocket& socket, std::string already_read)
      : socket_(socket), pending_(std::move(already_read)) {}

  boost::asio::awaitable<Result<std::size_t>> read_some(std::span<char> into) override;
  boost::asio::awaitable<Result<void>> write_all(std::span<const char> bytes) override;
  boost::asio::awaitable<void> shutdown_send() override;
  void close() noexcept override;

 private:
  ClientSocket& socket_;
  std::string pending_;
  std::size_t pending_at_ = 0;
};

}  // namespace relay::server
