// One end of a tunnel: the raw bytes of a connection after a protocol switch
// (RFC 9110 §7.8, 101 Switching Protocols). The client's side is the
// session's socket (server/client_stream.cpp), the origin's a connection of
// its own (upstream/raw_connection.cpp); proxy/tunnel.cpp joins the two.
// Reads and writes may be pending at the same time (one of each); a write
// sends everything or fails.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <span>

#include "relay/util/result.hpp"

namespace relay::http {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Some bytes into `into`; 0 means the peer has finished sending (EOF).
  virtual boost::asio::awaitable<Result<std::size_t>> read_some(std::span<char> into) = 0;
  virtual boost::asio::awaitable<Result<void>> write_all(std::span<const char> bytes) = 0;
  // Tells the peer nothing more will come (half-close); reads go on.
  virtual boost::asio::awaitable<void> shutdown_send() = 0;
  // Ends the connection both ways; pending operations complete with an error.
  virtual void close() noexcept = 0;
};

}  // namespace relay::http
