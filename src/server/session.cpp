// Per-connection loop. Deadlines: idle_timeout while waiting for the next
// request, header_timeout from its first byte until its head is complete,
// idle_timeout for each body read and response write.
#include "relay/server/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "relay/metrics/metrics.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/server/request_parser.hpp"
#include "relay/server/response_writer.hpp"
#include "relay/server/watchdog.hpp"
#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;

namespace {

// The request body as the upstream transfer pulls it, under a read deadline.
class ParserBodySource final : public upstream::RequestBodySource {
 public:
  ParserBodySource(RequestParser& parser, Watchdog& watchdog, std::chrono::milliseconds timeout)
      : parser_(parser), watchdog_(watchdog), timeout_(timeout) {}

  asio::awaitable<Result<std::span<const char>>> read() override {
    watchdog_.expire_after(timeout_);
    auto chunk = co_await parser_.read_body();
    watchdog_.disarm();
    co_return chunk;
  }

 private:
  RequestParser& parser_;
  Watchdog& watchdog_;
  std::chrono::milliseconds timeout_;
};

// Reads what is left of a request body the handler did not consume, so the
// connection can carry the next request; false when it is too much to bother.
asio::awaitable<bool> discard_body(upstream::RequestBodySource& body) {
  constexpr std::size_t max_discard = 1 << 20;
  std::size_t discarded = 0;
  for (;;) {
    auto chunk = co_await body.read();
    if (!chunk) co_return false;
    if (chunk->empty()) co_return true;
    discarded += chunk->size();
    if (discarded > max_discard) co_return false;
  }
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, const config::ServerConfig& cfg, proxy::Handler& handler,
                 metrics::Metrics& metrics, SessionHost& host)
    : socket_(std::move(socket)),
      cfg_(cfg),
      handler_(handler),
      metrics_(metrics),
      host_(host),
      watchdog_(std::make_shared<Watchdog>(socket_)) {}

Session::~Session() = default;

void Session::close_if_idle() {
  if (!idle_) return;
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  watchdog_->start();
  try {
    co_await serve_requests();
  } catch (const std::exception& e) {
    // Last resort: one connection's bug must not take the process down.
    log::error("connection aborted by an unexpected error: ", e.what());
  }
  watchdog_->stop();
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  socket_.close(ignored);
  host_.session_ended(this);
}

asio::awaitable<void> Session::serve_requests() {
  std::string peer;
  {
    boost::system::error_code ec;
    auto endpoint = socket_.remote_endpoint(ec);
    if (!ec) peer = endpoint.address().to_string();
  }
  ParserLimits limits{cfg_.max_header_size, cfg_.max_url_length};
  RequestParser parser(socket_, limits);
  parser.on_message_start = [this] {
    idle_ = false;
    watchdog_->expire_after(cfg_.header_timeout);
  };
  ParserBodySource body(parser, *watchdog_, cfg_.idle_timeout);
  bool first = true;

  while (!host_.draining()) {
    idle_ = true;
    // A fresh connection gets the shorter header timeout: no free idle slot for slowloris.
    watchdog_->expire_after(first ? cfg_.header_timeout : cfg_.idle_timeout);
    first = false;
    http::Request req;
    auto outcome = co_await parser.read_head(req);
    idle_ = false;
    watchdog_->disarm();

    if (outcome == HeadOutcome::Closed) co_return;
    if (outcome == HeadOutcome::Incomplete) {
      if (watchdog_->fired()) {
        log::info("client ", peer, ": request head not received within server.header_timeout");
        metrics_.record_client_error(408);
        static constexpr std::string_view timeout_response =
            "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        co_await asio::async_write(socket_, asio::buffer(timeout_response), asio::as_tuple(asio::use_awaitable));
      }
      co_return;
    }
    if (outcome == HeadOutcome::Rejected) {
      log::info("client ", peer, ": ", parser.reject_status(), " ", parser.reject_reason());
      metrics_.record_client_error(parser.reject_status());
      http::Request minimal;
      ResponseWriter out(socket_, *watchdog_, cfg_.idle_timeout, minimal, false);
      co_await out.write_simple(parser.reject_status(), "text/plain",
                                "relay: " + parser.reject_reason() + "\n");
      co_return;
    }

    req.client_address = peer;
    ResponseWriter out(socket_, *watchdog_, cfg_.idle_timeout, req, !host_.draining());
    co_await handler_.serve(req, body, out);
    if (!out.keep_alive()) co_return;
    if (!parser.message_complete() && !co_await discard_body(body)) co_return;
  }
}

}  // namespace relay::server
