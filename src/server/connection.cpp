// A connection from accept to its protocol (connection.hpp).
#include "relay/server/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <array>
#include <cstring>
#include <string_view>

#include "relay/metrics/metrics.hpp"
#include "relay/server/h2_session.hpp"
#include "relay/server/tls_contexts.hpp"
#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::string_view h2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Closes the connection at its deadline unless disarmed first; the state
// is shared with the timer's handler, which may run after the awaiting
// coroutine has moved on.
class Deadline {
 public:
  Deadline(tcp::socket& socket, std::chrono::milliseconds after)
      : timer_(std::make_shared<asio::steady_timer>(socket.get_executor(), after)),
        expired_(std::make_shared<bool>(false)) {
    timer_->async_wait([timer = timer_, expired = expired_, &socket](const boost::system::error_code& ec) {
      if (ec) return;
      *expired = true;
      boost::system::error_code ignored;
      socket.cancel(ignored);
    });
  }
  ~Deadline() { timer_->cancel(); }
  bool expired() const noexcept { return *expired_; }

 private:
  std::shared_ptr<asio::steady_timer> timer_;
  std::shared_ptr<bool> expired_;
};
}  // namespace

Connection::Connection(ClientSocket socket, std::shared_ptr<const config::Config> config,
                       std::shared_ptr<TlsContexts> tls, http::Service& service, metrics::Metrics& metrics,
                       SessionHost& host)
    : socket_(std::move(socket)),
      config_(std::move(config)),
      tls_(std::move(tls)),
      service_(service),
      metrics_(metrics),
      host_(host) {
  context_->client = socket_.peer_address();
}

Connection::~Connection() = default;

void Connection::drain() {
  draining_ = true;
  if (http1_) return http1_->drain();
  if (http2_) return http2_->drain();
  socket_.cancel();  // still in the handshake or before the first byte
}

asio::awaitable<bool> Connection::handshake() {
  socket_.use_tls(tls_->default_context());
  boost::system::error_code ec;
  bool timed_out = false;
  {
    Deadline deadline(socket_.tcp(), config_->server.tls.handshake_timeout);
    ec = co_await socket_.handshake();
    timed_out = deadline.expired();
  }
  if (!ec) {
    metrics_.record_tls_handshake("ok", socket_.tls_version());
    co_return true;
  }
  // No version was agreed (OpenSSL would name the highest it offers).
  metrics_.record_tls_handshake(timed_out ? "timeout" : "failed", "");
  if (timed_out)
    log::debug("client ", context_->client, ": TLS handshake not done within server.tls.handshake_timeout");
  else
    log::debug("client ", context_->client, ": TLS handshake failed: ", ec.message());
  co_return false;
}

asio::awaitable<bool> Connection::sends_h2_preface() {
  Deadline deadline(socket_.tcp(), config_->server.header_timeout);
  std::array<char, h2_preface.size()> seen;
  for (;;) {
    auto [ec] = co_await socket_.tcp().async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    if (ec || draining_) co_return false;
    const std::size_t n = socket_.tcp().receive(asio::buffer(seen), tcp::socket::message_peek, ec);
    if (ec || n == 0) co_return false;  // gone: the HTTP/1.1 session sees it and ends quietly
    if (std::string_view(seen.data(), n) != h2_preface.substr(0, n)) co_return false;
    if (n == h2_preface.size()) co_return true;
    // A preface still arriving: readable again at once, so wait a little rather than spin.
    asio::steady_timer pause(socket_.tcp().get_executor(), std::chrono::milliseconds(5));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  bool h2 = false;
  if (tls_) {
    if (!co_await handshake()) {
      socket_.close();
      co_return;
    }
    h2 = socket_.alpn() == "h2";
  } else if (config_->server.h2c) {
    h2 = co_await sends_h2_preface();
  }
  if (draining_) {
    socket_.close();
    co_return;
  }
  if (h2) {
    const std::string_view scheme = tls_ ? "https" : "http";
    http2_ = std::make_shared<H2Session>(std::move(socket_), config_, service_, metrics_, host_, scheme);
    co_await http2_->run();
    co_return;
  }
  metrics_.record_client_connection("HTTP/1.1", true);
  http1_ = std::make_shared<Session>(std::move(socket_), config_, service_, metrics_, host_, context_);
  try {
    co_await http1_->run();
  } catch (...) {
    metrics_.record_client_connection("HTTP/1.1", false);
    throw;
  }
  metrics_.record_client_connection("HTTP/1.1", false);
}

}  // namespace relay::server
