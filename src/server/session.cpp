// Per-connection loop; a request refused before the handler (400, 408 for
// a head, 413 for a declared body over the limit, 414, 431) is answered
// with a problem (http/problem.hpp) carrying its request id and written to
// the access log here. Deadlines: idle_timeout while waiting for the next
// request, header_timeout from its first byte until its head is complete,
// idle_timeout for each body read and response write, body_timeout (with
// min_body_rate) for the whole request body. The body limit is the
// service's answer for this request (body_limit_for), asked before any
// 100 Continue, so a refused body is never invited.
#include "relay/server/session.hpp"

#include <array>
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cassert>

#include "relay/http/problem.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/server/request_parser.hpp"
#include "relay/server/response_writer.hpp"
#include "relay/server/watchdog.hpp"
#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;

namespace {

using steady = std::chrono::steady_clock;

// One request's body as the upstream transfer pulls it. A read may wait at
// most idle_timeout; all reads together at most body_timeout, plus a second
// for every min_body_rate bytes received (Apache's RequestReadTimeout
// body=...,MinRate=..., apache/httpd modules/filters/mod_reqtimeout.c), so a
// trickle is cut while a steady upload of any size is not. Only time spent
// waiting for the client counts: while relay waits for an origin connection
// or for the origin to take more, the clock stands still. Too slow: 408 when
// no response has started, else the connection just closes. A body that
// grows past `limit` (0 = none) ends the same way with 413; the chunk that
// crosses it is never handed on, and the error makes the upload fail, so
// the origin sees a cut body, never a complete one.
class ParserBodySource final : public http::BodySource {
 public:
  ParserBodySource(RequestParser& parser, Watchdog& watchdog, const config::ServerConfig& cfg,
                   metrics::Metrics& metrics, const http::Request& req, ResponseWriter& out,
                   std::uint64_t limit)
      : parser_(parser),
        watchdog_(watchdog),
        cfg_(cfg),
        metrics_(metrics),
        req_(req),
        out_(out),
        limit_(limit) {}

  asio::awaitable<Result<std::span<const char>>> read() override {
    if (timed_out_) co_return make_error_code(Errc::client_timeout);
    if (too_large_) co_return make_error_code(Errc::request_body_too_large);
    steady::duration earned{};
    if (cfg_.min_body_rate > 0) earned = std::chrono::milliseconds(received_ * 1000 / cfg_.min_body_rate);
    auto budget = steady::duration(cfg_.body_timeout) + earned - waited_;
    if (budget <= steady::duration::zero()) co_return co_await time_out(false);
    auto wait = std::min(budget, steady::duration(cfg_.idle_timeout));
    auto began = steady::now();
    watchdog_.interrupt_at(began + wait);
    auto chunk = co_await parser_.read_body();
    bool interrupted = watchdog_.clear_interrupt();
    waited_ += steady::now() - began;
    if (chunk) {
      if (limit_ > 0 && received_ + chunk->size() > limit_) co_return co_await refuse_too_large();
      received_ += chunk->size();
      co_return chunk;
    }
    if (interrupted) co_return co_await time_out(wait < budget);
    co_return chunk;
  }

 private:
  asio::awaitable<Result<std::span<const char>>> time_out(bool stalled) {
    timed_out_ = true;
    log::info("client ", req_.client_address, ": request body ",
              stalled ? "stalled for server.idle_timeout" : "not received within server.body_timeout", " (",
              received_, " bytes in ", std::chrono::duration_cast<std::chrono::milliseconds>(waited_).count(),
              " ms of waiting)", out_.head_sent() ? ": closing" : ": 408");
    metrics_.record_client_timeout("body");
    metrics_.record_client_error(408);
    out_.force_close();
    if (!out_.head_sent()) {
      co_await http::respond_problem(out_, req_, 408, "request-timeout",
                                     "the request body was not received in time");
    }
    co_return make_error_code(Errc::client_timeout);
  }

  asio::awaitable<Result<std::span<const char>>> refuse_too_large() {
    too_large_ = true;
    log::info("client ", req_.client_address, ": request body past server.max_body_size (", limit_, " bytes)",
              out_.head_sent() ? ": closing" : ": 413");
    metrics_.record_client_error(413);
    out_.force_close();
    if (!out_.head_sent()) {
      co_await http::respond_problem(out_, req_, 413, "content-too-large", http::body_limit_detail(limit_));
    }
    co_return make_error_code(Errc::request_body_too_large);
  }

 public:
  // The body outgrew its limit: the client may still be sending the rest.
  bool refused_too_large() const noexcept { return too_large_; }

 private:
  RequestParser& parser_;
  Watchdog& watchdog_;
  const config::ServerConfig& cfg_;
  metrics::Metrics& metrics_;
  const http::Request& req_;
  ResponseWriter& out_;
  std::uint64_t limit_;
  steady::duration waited_{};
  std::uint64_t received_ = 0;
  bool timed_out_ = false;
  bool too_large_ = false;
};

// The problem type of a head the parser refused.
std::string_view refusal_slug(int status) {
  switch (status) {
    case 414:
      return "uri-too-long";
    case 431:
      return "header-fields-too-large";
    case 501:
      return "method-not-implemented";
    default:
      return "malformed-request";
  }
}

// Reads what is left of a request body the handler did not consume, so the
// connection can carry the next request; false when it is too much to bother.
asio::awaitable<bool> discard_body(http::BodySource& body) {
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

Session::Session(ClientSocket socket, std::shared_ptr<const config::Config> config, http::Service& service,
                 metrics::Metrics& metrics, SessionHost& host, std::shared_ptr<RequestContext> context)
    : socket_(std::move(socket)),
      config_(std::move(config)),
      cfg_(config_->server),
      service_(service),
      metrics_(metrics),
      host_(host),
      watchdog_(std::make_shared<Watchdog>(socket_.tcp())) {
  if (context) context_ = std::move(context);
}

Session::~Session() = default;

void Session::drain() {
  // A tunnel has no request boundary to stop at: it is closed a little
  // before shutdown_grace runs out, so that it ends the drain as a finished
  // exchange rather than as work the grace had to cut. Kept for a switch
  // still under way (its handshake began before the drain).
  auto grace = std::chrono::duration_cast<steady::duration>(cfg_.shutdown_grace);
  auto margin = std::min<steady::duration>(grace / 5, std::chrono::seconds(1));
  tunnel_deadline_ = steady::now() + grace - margin;
  if (tunnelling_) {
    watchdog_->expire_at(*tunnel_deadline_);
    return;
  }
  if (!idle_) return;
  socket_.cancel();
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  watchdog_->start();
  std::string failure;
  try {
    co_await serve_requests();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  // Terminal cancellation (shutdown grace elapsed) unwinds as an exception
  // from the first co_await after it; anything else is a bug that must not
  // take the process down.
  if (!failure.empty()) {
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
      log::info("connection cut: server.shutdown_grace elapsed");
    else
      log::error("connection aborted by an unexpected error: ", failure);
  }
  if (socket_.tls() && !watchdog_->fired()) {
    watchdog_->expire_after(std::chrono::seconds(1));
    co_await socket_.close_notify();
  }
  watchdog_->stop();
  socket_.shutdown_send();
  socket_.close();
}

asio::awaitable<void> Session::serve_requests() {
  const std::string peer = socket_.peer_address();
  context_->client = peer;
  ParserLimits limits{cfg_.max_header_size, cfg_.max_url_length};
  RequestParser parser(socket_, limits);
  auto message_start = steady::now();
  parser.on_message_start = [this, &message_start] {
    idle_ = false;
    message_start = steady::now();
    // At header_timeout the read is interrupted, so the connection is still
    // there to carry the 408; a second later the watchdog closes it anyway.
    watchdog_->interrupt_at(message_start + cfg_.header_timeout);
    watchdog_->expire_at(message_start + cfg_.header_timeout + std::chrono::seconds(1));
  };
  // A request refused here gets its access log line too, with what was read of it.
  const auto log_refused = [&](http::Request& req, int status, std::uint64_t bytes) {
    req.client_address = peer;
    if (req.target.size() > cfg_.max_url_length) req.target.resize(cfg_.max_url_length);  // 414
    service_.log_refused(req, status, bytes, std::chrono::duration<double>(steady::now() - message_start).count());
  };
  bool first = true;
  // Kept across the connection's requests, so that once they have grown to
  // fit, a request of the same shape allocates nothing for its head.
  http::Request req;
  std::string head_buffer;

  while (!host_.draining()) {
    idle_ = true;
    // A fresh connection gets the shorter header timeout: no free idle slot for slowloris.
    watchdog_->expire_after(first ? cfg_.header_timeout : cfg_.idle_timeout);
    first = false;
    req.reset();
    auto outcome = co_await parser.read_head(req);
    idle_ = false;
    watchdog_->disarm();
    const bool head_timed_out = watchdog_->clear_interrupt() || watchdog_->fired();

    if (outcome == HeadOutcome::Closed) co_return;
    req.client_address = peer;
    if (socket_.tls()) req.scheme = "https";
    // The id is settled here so that every answer and every line logged for
    // this request carries it, refusals included (from what was read of the head).
    proxy::assign_request_id(req);
    // A refusal is framed for a plain HTTP/1.1 client and closes the
    // connection: what was read of the head may not be trusted for framing.
    const http::Request refusal_framing;
    if (outcome == HeadOutcome::Incomplete) {
      if (head_timed_out) {
        log::info("client ", peer, ": request head not received within server.header_timeout");
        metrics_.record_client_timeout("head");
        metrics_.record_client_error(408);
        ResponseWriter out(socket_, *watchdog_, cfg_.idle_timeout, refusal_framing, false, head_buffer);
        co_await http::respond_problem(out, req, 408, "request-timeout",
                                       "the request head was not received in time");
        log_refused(req, 408, out.body_bytes());
      }
      co_return;
    }
    if (outcome == HeadOutcome::Rejected) {
      log::info("client ", peer, ": ", parser.reject_status(), " ", parser.reject_reason());
      metrics_.record_client_error(parser.reject_status());
      ResponseWriter out(socket_, *watchdog_, cfg_.idle_timeout, refusal_framing, false, head_buffer);
      co_await http::respond_problem(out, req, parser.reject_status(),
                                     std::string(refusal_slug(parser.reject_status())),
                                     parser.reject_reason());
      log_refused(req, parser.reject_status(), out.body_bytes());
      co_return;
    }

    ResponseWriter out(socket_, *watchdog_, cfg_.idle_timeout, req, !host_.draining(), head_buffer);
    // Decided before the body is read, so before any 100 Continue.
    const std::uint64_t body_limit = service_.body_limit_for(req);
    if (body_limit > 0 && req.content_length && *req.content_length > body_limit) {
      log::info("client ", peer, ": 413 Content-Length ", *req.content_length, " over the body limit (",
                body_limit, " bytes)");
      metrics_.record_client_error(413);
      out.force_close();
      std::string detail = "Content-Length ";
      detail.append(std::to_string(*req.content_length)).append(" is over the limit: ");
      detail.append(http::body_limit_detail(body_limit));
      co_await http::respond_problem(out, req, 413, "content-too-large", std::move(detail));
      log_refused(req, 413, out.body_bytes());
      co_await linger();
      co_return;
    }
    // A protocol switch takes the connection over for good; not once the drain has begun.
    if (!host_.draining()) {
      out.offer_switch([this, &parser] {
        tunnelling_ = true;
        if (tunnel_deadline_) watchdog_->expire_at(*tunnel_deadline_);
        return parser.take_buffered();
      });
    }
    ParserBodySource body(parser, *watchdog_, cfg_, metrics_, req, out, body_limit);
    assert(context_->id.empty() && "one request at a time per connection");
    context_->id = req.request_id;
    co_await service_.serve(req, body, out);
    context_->id.clear();
    if (out.keep_alive() && (parser.message_complete() || co_await discard_body(body))) continue;
    if (body.refused_too_large()) co_await linger();
    co_return;
  }
}

asio::awaitable<void> Session::linger() {
  constexpr std::size_t max_drained = 16 << 20;
  socket_.shutdown_send();
  // The watchdog closes the socket at the deadline, which ends the read.
  watchdog_->expire_after(std::chrono::seconds(2));
  std::array<char, 16 * 1024> sink;
  std::size_t drained = 0;
  while (drained < max_drained) {
    auto [ec, n] = co_await socket_.read_some(asio::buffer(sink));
    if (ec) break;
    drained += n;
  }
  watchdog_->disarm();
}

}  // namespace relay::server
