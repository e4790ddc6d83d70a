// Accept loop and lifetime of a listener of relay's own (listener.hpp). A
// handful of connections at most: operators and scrapers, not clients.
#include "relay/server/listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "relay/server/accept_backoff.hpp"
#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::size_t kMaxSessions = 64;
}

Listener::Listener(asio::io_context& io, std::string key, std::shared_ptr<const config::Config> cfg,
                   http::Service& service, metrics::Metrics& metrics)
    : io_(io), key_(std::move(key)), cfg_(std::move(cfg)), service_(service), metrics_(metrics), acceptor_(io) {
  sessions_.on_empty = [this] { check_closed(); };
}

Listener::~Listener() {
  // The loop has stopped by now; sessions it still held are destroyed with it.
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void Listener::listen(const config::ListenAddress& address) {
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(address.address), address.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(key_ + ": cannot listen on " + address.text + ": " + e.code().message());
  }
}

void Listener::start() {
  accepting_ = true;
  asio::co_spawn(io_, accept_loop(), asio::bind_cancellation_slot(accept_cancel_.slot(), [this](std::exception_ptr) {
                   accepting_ = false;
                   check_closed();
                 }));
}

void Listener::close() {
  if (closing_) return;
  closing_ = true;
  accept_cancel_.emit(asio::cancellation_type::terminal);
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  sessions_.drain();
  sessions_.cancel();
  check_closed();
}

void Listener::check_closed() {
  if (closing_ && closed() && on_closed) std::exchange(on_closed, {})();
}

asio::awaitable<void> Listener::accept_loop() {
  AcceptBackoff backoff(key_);
  while (!closing_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (closing_) co_return;
    if (ec) {
      co_await backoff.failed(ec);
      continue;
    }
    backoff.succeeded();
    if (sessions_.size() >= kMaxSessions) {
      log::warn(key_, ": ", kMaxSessions, " connections open already: refusing one");
      continue;
    }
    auto session = std::make_shared<Session>(ClientSocket(std::move(socket)), cfg_, service_, metrics_, *this);
    sessions_.spawn(ContextExecutor(io_.get_executor(), session->context()), session->run(), {},
                    [weak = std::weak_ptr<Session>(session)] {
                      if (auto s = weak.lock()) s->drain();
                    });
  }
}

}  // namespace relay::server
