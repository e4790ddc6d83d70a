// A client's connection as every protocol layer above it reads and writes
// it: a TCP socket, or a TLS stream over one once use_tls() has been
// called. The HTTP/1.1 parser and writer, the HTTP/2 session and tunnels
// use only read_some() and write(); the watchdog acts on tcp() (cancelling
// or shutting down the TCP socket ends TLS operations on it too). TLS is
// OpenSSL over the socket's descriptor (client_socket.cpp). Both
// kinds hand back the same awaitable type, so the plain path pays no extra
// coroutine frame for the choice.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include "relay/http/body.hpp"

namespace boost::asio::ssl {
class context;
}

namespace relay::server {

class ClientSocket {
 public:
  using Io = boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>>;

  explicit ClientSocket(boost::asio::ip::tcp::socket socket);
  ~ClientSocket();
  ClientSocket(ClientSocket&&) noexcept;
  ClientSocket& operator=(ClientSocket&&) noexcept;

  // Layers TLS over the socket (server side); handshake() must come next.
  void use_tls(boost::asio::ssl::context& context);
  bool tls() const noexcept { return tls_ != nullptr; }
  boost::asio::awaitable<boost::system::error_code> handshake();
  // After the handshake: the ALPN protocol chosen ("" = none), the TLS
  // version ("TLSv1.3") and the SNI name the client sent ("" = none).
  std::string_view alpn() const noexcept;
  std::string_view tls_version() const noexcept;
  std::string_view server_name() const noexcept;

  boost::asio::ip::tcp::socket& tcp() noexcept;
  // The peer's IP address, "" when it is gone.
  std::string peer_address();

  Io read_some(boost::asio::mutable_buffer into);
  // Everything or an error. Over TLS, small buffer sequences are gathered
  // into one record (a response head and its first body chunk).
  Io write(std::span<const boost::asio::const_buffer> buffers);
  Io write(boost::asio::const_buffer bytes);
  // Plain connections only (the bytes would bypass TLS): `prefix` (a head
  // not sent yet, may be empty) and then the file region by sendfile(2),
  // the prefix held back (MSG_MORE) to share its segment with the body.
  // The count includes the prefix.
  Io send_file(boost::asio::const_buffer prefix, http::FileRegion region);

  // Tells the peer nothing more will come while reads go on: a TCP
  // half-close. Over TLS nothing (Asio has no one-way TLS shutdown that a
  // pending read survives); the connection ends with close_notify().
  void shutdown_send() noexcept;
  // Ends the TLS session with close_notify, so that a body delimited by the
  // connection's end is seen as complete; waits for the peer's answer, so
  // the caller bounds it. Nothing for a plain connection.
  boost::asio::awaitable<void> close_notify();
  // Cancels pending operations; the connection stays open.
  void cancel() noexcept;
  void close() noexcept;

 private:
  struct Tls;
  Io tls_read(boost::asio::mutable_buffer into);
  Io tls_write(std::span<const boost::asio::const_buffer> buffers);

  boost::asio::ip::tcp::socket socket_;  // TLS runs over it once use_tls() was called
  std::unique_ptr<Tls> tls_;
  std::string gather_;                   // TLS: one record for small buffer sequences
  boost::asio::const_buffer gathered_;   // TLS: what tls_write() writes, alive while it runs
};

}  // namespace relay::server
