// Plain or TLS client connection (client_socket.hpp). Over TLS, OpenSSL
// reads and writes the non-blocking socket itself (SSL_set_fd, as nginx
// does) and a want-read or want-write becomes an async_wait: no record is
// copied through a memory BIO pair, and a connection holds no buffers
// besides OpenSSL's own (released while idle, SSL_MODE_RELEASE_BUFFERS).
// Asio's ssl::stream would add two zero-filled 17 KiB buffers per
// connection and a copy of every record. Nothing here blocks.
#include "relay/server/client_socket.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
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
  explicit Tls(SSL_CTX* context) : ssl(SSL_new(context)) {}
  ~Tls() { SSL_free(ssl); }
  Tls(const Tls&) = delete;
  Tls& operator=(const Tls&) = delete;
  SSL* ssl;
};

namespace {

using error_code = boost::system::error_code;

// What an OpenSSL call that returned `result` asks for next: to wait for
// the socket (wait set, no error), or to stop with an error.
struct Next {
  error_code error;
  bool wait = false;
  tcp::socket::wait_type wait_for = tcp::socket::wait_read;
};

// Before each OpenSSL call: what it reports afterwards is then its own
// (a close without close_notify leaves errno at 0).
void clear_errors() noexcept {
  ERR_clear_error();
  errno = 0;
}

Next next_after(SSL* ssl, int result) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ: return {{}, true, tcp::socket::wait_read};
    case SSL_ERROR_WANT_WRITE: return {{}, true, tcp::socket::wait_write};
    case SSL_ERROR_ZERO_RETURN: return {asio::error::eof};
    case SSL_ERROR_SYSCALL:
      if (const auto queued = ERR_get_error()) return {error_code(static_cast<int>(queued), asio::error::get_ssl_category())};
      // The peer closed without close_notify (or reset).
      if (saved_errno == 0) return {asio::ssl::error::stream_truncated};
      return {error_code(saved_errno, boost::system::system_category())};
    default: {
      const auto queued = ERR_get_error();
      return {queued ? error_code(static_cast<int>(queued), asio::error::get_ssl_category())
                     : error_code(asio::error::fault)};
    }
  }
}

}  // namespace

ClientSocket::ClientSocket(tcp::socket socket) : socket_(std::move(socket)) {}
ClientSocket::~ClientSocket() = default;
ClientSocket::ClientSocket(ClientSocket&&) noexcept = default;
ClientSocket& ClientSocket::operator=(ClientSocket&&) noexcept = default;

void ClientSocket::use_tls(asio::ssl::context& context) {
  tls_ = std::make_unique<Tls>(context.native_handle());
  error_code ignored;
  socket_.native_non_blocking(true, ignored);  // OpenSSL's reads and writes must not block the loop
  SSL_set_fd(tls_->ssl, socket_.native_handle());
  SSL_set_accept_state(tls_->ssl);
}

asio::awaitable<boost::system::error_code> ClientSocket::handshake() {
  if (!tls_->ssl) co_return error_code(asio::error::no_memory);
  for (;;) {
    clear_errors();
    const int result = SSL_do_handshake(tls_->ssl);
    if (result == 1) co_return error_code{};
    const auto next = next_after(tls_->ssl, result);
    if (!next.wait) co_return next.error;
    auto [waited] = co_await socket_.async_wait(next.wait_for, as_result);
    if (waited) co_return waited;
  }
}

ClientSocket::Io ClientSocket::tls_read(asio::mutable_buffer into) {
  if (into.size() == 0) co_return std::tuple{error_code{}, std::size_t{0}};
  for (;;) {
    clear_errors();
    std::size_t n = 0;
    const int result = SSL_read_ex(tls_->ssl, into.data(), into.size(), &n);
    if (result == 1) co_return std::tuple{error_code{}, n};
    const auto next = next_after(tls_->ssl, result);
    if (!next.wait) co_return std::tuple{next.error, std::size_t{0}};
    auto [waited] = co_await socket_.async_wait(next.wait_for, as_result);
    if (waited) co_return std::tuple{waited, std::size_t{0}};
  }
}

ClientSocket::Io ClientSocket::tls_write(std::span<const asio::const_buffer> buffers) {
  std::size_t total = 0;
  for (const auto& buffer : buffers) {
    // A write cut short by a full socket is repeated with the same
    // arguments, as OpenSSL requires; whole buffers are written.
    const auto* data = static_cast<const char*>(buffer.data());
    std::size_t left = buffer.size();
    while (left > 0) {
      clear_errors();
      std::size_t n = 0;
      const int result = SSL_write_ex(tls_->ssl, data, left, &n);
      if (result == 1) {
        data += n;
        left -= n;
        total += n;
        continue;
      }
      const auto next = next_after(tls_->ssl, result);
      if (!next.wait) co_return std::tuple{next.error, total};
      auto [waited] = co_await socket_.async_wait(next.wait_for, as_result);
      if (waited) co_return std::tuple{waited, total};
    }
  }
  co_return std::tuple{error_code{}, total};
}

std::string_view ClientSocket::alpn() const noexcept {
  if (!tls_) return {};
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(tls_->ssl, &data, &size);
  return {reinterpret_cast<const char*>(data), size};
}

std::string_view ClientSocket::tls_version() const noexcept {
  if (!tls_) return {};
  return SSL_get_version(tls_->ssl);
}

std::string_view ClientSocket::server_name() const noexcept {
  if (!tls_) return {};
  const char* name = SSL_get_servername(tls_->ssl, TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

tcp::socket& ClientSocket::tcp() noexcept { return socket_; }

std::string ClientSocket::peer_address() {
  boost::system::error_code ec;
  auto endpoint = tcp().remote_endpoint(ec);
  return ec ? std::string() : endpoint.address().to_string();
}

ClientSocket::Io ClientSocket::read_some(asio::mutable_buffer into) {
  if (tls_) return tls_read(into);
  return socket_.async_read_some(into, as_result);
}

ClientSocket::Io ClientSocket::write(std::span<const asio::const_buffer> buffers) {
  if (!tls_) return asio::async_write(socket_, buffers, as_result);
  if (buffers.size() > 1 && asio::buffer_size(buffers) <= max_gathered) {
    gather_.clear();
    for (const auto& b : buffers) gather_.append(static_cast<const char*>(b.data()), b.size());
    gathered_ = asio::buffer(gather_);
    return tls_write(std::span(&gathered_, 1));
  }
  return tls_write(buffers);
}

ClientSocket::Io ClientSocket::write(asio::const_buffer bytes) {
  if (tls_) {
    gathered_ = bytes;
    return tls_write(std::span(&gathered_, 1));
  }
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
  if (tls_) return;  // a TCP half-close would cut the TLS stream short
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> ClientSocket::close_notify() {
  if (!tls_) co_return;
  // Ours goes out; the peer's is not waited for (as nginx's
  // no_wait_shutdown): the connection ends either way, and waiting costs a
  // read per connection.
  SSL* ssl = tls_->ssl;
  SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
  for (;;) {
    clear_errors();
    const int result = SSL_shutdown(ssl);
    if (result >= 0) co_return;  // sent (1: and the peer's seen, which is set above)
    const auto next = next_after(ssl, result);
    if (!next.wait) co_return;
    auto [waited] = co_await socket_.async_wait(next.wait_for, as_result);
    if (waited) co_return;
  }
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
