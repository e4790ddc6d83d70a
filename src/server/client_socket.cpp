// Plain or TLS client connection (client_socket.hpp). OpenSSL's record
// layer is driven by Asio's ssl::stream; nothing here blocks.
#include "relay/server/client_socket.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace relay::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto as_result = asio::as_tuple(asio::use_awaitable);
// Gathering costs a copy; past this a second record is cheaper than the copy.
constexpr std::size_t max_gathered = 16 * 1024;
}  // namespace

struct ClientSocket::Tls {
  Tls(tcp::socket socket, asio::ssl::context& context) : stream(std::move(socket), context) {}
  asio::ssl::stream<tcp::socket> stream;
};

ClientSocket::ClientSocket(tcp::socket socket) : socket_(std::move(socket)) {}
ClientSocket::~ClientSocket() = default;
ClientSocket::ClientSocket(ClientSocket&&) noexcept = default;
ClientSocket& ClientSocket::operator=(ClientSocket&&) noexcept = default;

void ClientSocket::use_tls(asio::ssl::context& context) {
  tls_ = std::make_unique<Tls>(std::move(socket_), context);
}

asio::awaitable<boost::system::error_code> ClientSocket::handshake() {
  auto [ec] = co_await tls_->stream.async_handshake(asio::ssl::stream_base::server, as_result);
  co_return ec;
}

std::string_view ClientSocket::alpn() const noexcept {
  if (!tls_) return {};
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(const_cast<SSL*>(tls_->stream.native_handle()), &data, &size);
  return {reinterpret_cast<const char*>(data), size};
}

std::string_view ClientSocket::tls_version() const noexcept {
  if (!tls_) return {};
  return SSL_get_version(const_cast<SSL*>(tls_->stream.native_handle()));
}

std::string_view ClientSocket::server_name() const noexcept {
  if (!tls_) return {};
  const char* name = SSL_get_servername(const_cast<SSL*>(tls_->stream.native_handle()), TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

tcp::socket& ClientSocket::tcp() noexcept { return tls_ ? tls_->stream.next_layer() : socket_; }

std::string ClientSocket::peer_address() {
  boost::system::error_code ec;
  auto endpoint = tcp().remote_endpoint(ec);
  return ec ? std::string() : endpoint.address().to_string();
}

ClientSocket::Io ClientSocket::read_some(asio::mutable_buffer into) {
  if (tls_) return tls_->stream.async_read_some(into, as_result);
  return socket_.async_read_some(into, as_result);
}

ClientSocket::Io ClientSocket::write(std::span<const asio::const_buffer> buffers) {
  if (!tls_) return asio::async_write(socket_, buffers, as_result);
  if (buffers.size() > 1 && asio::buffer_size(buffers) <= max_gathered) {
    gather_.clear();
    for (const auto& b : buffers) gather_.append(static_cast<const char*>(b.data()), b.size());
    return asio::async_write(tls_->stream, asio::buffer(gather_), as_result);
  }
  return asio::async_write(tls_->stream, buffers, as_result);
}

ClientSocket::Io ClientSocket::write(asio::const_buffer bytes) {
  if (tls_) return asio::async_write(tls_->stream, bytes, as_result);
  return asio::async_write(socket_, bytes, as_result);
}

ClientSocket::Io ClientSocket::send_file(asio::const_buffer prefix, http::FileRegion region) {
  using error_code = boost::system::error_code;
  if (tls_) co_return std::tuple{error_code(asio::error::operation_not_supported), std::size_t{0}};
  // Asio made the socket non-blocking for the request's reads already; this
  // only costs a syscall on a socket that never had an async operation.
  if (!socket_.native_non_blocking()) {
    error_code ec;
    socket_.native_non_blocking(true, ec);
    if (ec) co_return std::tuple{ec, std::size_t{0}};
  }
  const int fd = socket_.native_handle();
  auto head = static_cast<const char*>(prefix.data());
  std::size_t head_left = prefix.size();
  auto offset = static_cast<off_t>(region.offset);
  std::uint64_t left = region.size;
  std::size_t sent = 0;
  while (head_left > 0 || left > 0) {
    ssize_t n = 0;
    if (head_left > 0) {
      n = ::send(fd, head, head_left, MSG_MORE | MSG_NOSIGNAL);
      if (n > 0) head += n, head_left -= static_cast<std::size_t>(n);
    } else {
      n = ::sendfile(fd, region.fd, &offset, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1U << 30)));
      if (n == 0) co_return std::tuple{error_code(asio::error::eof), sent};  // the file is shorter than said
      if (n > 0) left -= static_cast<std::uint64_t>(n);
    }
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return std::tuple{error_code(errno, boost::system::system_category()), sent};
    auto [waited] = co_await socket_.async_wait(tcp::socket::wait_write, as_result);
    if (waited) co_return std::tuple{waited, sent};
  }
  co_return std::tuple{error_code{}, sent};
}

void ClientSocket::shutdown_send() noexcept {
  if (tls_) return;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> ClientSocket::close_notify() {
  if (!tls_) co_return;
  // Ours goes out; the peer's is not waited for (as nginx's
  // no_wait_shutdown): the connection ends either way, and waiting costs a
  // read per connection.
  SSL* ssl = tls_->stream.native_handle();
  SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
  co_await tls_->stream.async_shutdown(as_result);
}

void ClientSocket::cancel() noexcept {
  boost::system::error_code ignored;
  tcp().cancel(ignored);
}

void ClientSocket::close() noexcept {
  boost::system::error_code ignored;
  tcp().shutdown(tcp::socket::shutdown_both, ignored);
  tcp().close(ignored);
}

}  // namespace relay::server
