// Getting a connection up and keeping it honest: the non-blocking connect,
// the AUTH/SELECT/PING handshake whose reply proves readiness, the connect
// deadline, and back-off after a failure with one log line per outage and
// one per recovery. A lost connection is retried on a timer (100 ms, then
// doubling to 1 s, each jittered so a fleet does not reconnect in step),
// not only when a caller needs it: once Redis is back, calls find it up.
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <random>
#include <string>

#include "connection.hpp"
#include "endpoint.hpp"
#include "hiredis_glue.hpp"
#include "relay/util/log.hpp"

namespace relay::storage::redis {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds initial_backoff{100};
constexpr milliseconds max_backoff{1000};

// Within ±25% of d.
milliseconds jittered(milliseconds d) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<long> spread(d.count() * 3 / 4, d.count() * 5 / 4);
  return milliseconds(spread(rng));
}

// Marks the last handshake command: its success means the server is usable.
char last_handshake;

}  // namespace

Connection::Connection(const asio::any_io_executor& ex, Options options)
    : ex_(ex),
      options_(std::move(options)),
      backoff_(initial_backoff),
      connect_timer_(std::make_unique<asio::steady_timer>(ex)),
      reconnect_timer_(std::make_unique<asio::steady_timer>(ex)) {
  const auto& ep = options_.endpoint;
  where_ = ep.host + ":" + std::to_string(ep.port) + "/" + std::to_string(ep.db);
}

void Connection::start_connect() {
  Endpoint ep = options_.endpoint;
  if (options_.locator) {
    located_ = options_.locator->generation();
    ep = options_.locator->master(std::move(ep));
    where_ = ep.host + ":" + std::to_string(ep.port) + "/" + std::to_string(ep.db);
  }
  // Non-blocking connect (a host name is still resolved synchronously).
  redisAsyncContext* ac = redisAsyncConnect(ep.host.c_str(), ep.port);
  if (!ac) {
    lost("out of memory");
    return;
  }
  if (ac->err) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);
    lost(why);
    return;
  }
  ac_ = ac;
  ++generation_;
  up_ = false;
  ac->data = this;
  attach(ac);
  if (!ac_) return;
  redisAsyncSetConnectCallback(ac, &Connection::on_connect);
  redisAsyncSetDisconnectCallback(ac, &Connection::on_disconnect);
  handshake();
  connect_timer_->expires_after(options_.connect_timeout);
  connect_timer_->async_wait(
      [weak = weak_from_this(), gen = generation_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->generation_ != gen || !self->ac_ || self->up_) return;
        self->drop("not ready within " + std::to_string(self->options_.connect_timeout.count()) + " ms");
      });
}

void Connection::handshake() {
  // Sent before the TCP connect completes: hiredis buffers them, so they
  // precede every caller's command. PING when there is nothing else to ask,
  // so that readiness is always proven by a reply.
  std::vector<Command> commands;
  const auto& ep = options_.endpoint;
  if (!ep.password.empty()) commands.push_back({"AUTH", ep.password});
  if (ep.db != 0) commands.push_back({"SELECT", std::to_string(ep.db)});
  if (commands.empty()) commands.push_back({"PING"});
  for (std::size_t i = 0; i < commands.size(); ++i)
    queue(ac_, &Connection::on_handshake_reply, i + 1 == commands.size() ? &last_handshake : nullptr,
          commands[i]);
}

void Connection::drop(std::string_view why) {
  auto* ac = ac_;
  if (!ac) return;
  lost(why);
  // Inside a hiredis callback the free is deferred by hiredis until it returns.
  ac->data = nullptr;
  redisAsyncFree(ac);
}

void Connection::lost(std::string_view why) {
  const bool was_up = up_;
  ac_ = nullptr;
  ++generation_;
  up_ = false;
  if (connect_timer_) connect_timer_->cancel();
  if (closed_) return;
  retry_at_ = clock::now() + jittered(backoff_);
  reconnect_timer_->expires_at(retry_at_);
  reconnect_timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_ || self->ac_) return;
    self->start_connect();
  });
  // One line per outage and one per recovery, not one per attempt.
  if (was_up) {
    log::warn("redis ", where_, ": connection lost (", why, "); calls fail fast until it is back");
  } else if (!failing_) {
    log::warn("redis ", where_, ": cannot connect (", why, "); calls fail fast until it is reachable");
  } else {
    log::debug("redis ", where_, ": reconnect failed (", why, "); next attempt in ", backoff_.count(), " ms");
  }
  failing_ = true;
  backoff_ = std::min(backoff_ * 2, max_backoff);
}

void Connection::answered() {
  up_ = true;
  last_reply_ = clock::now();
  backoff_ = initial_backoff;
  if (connect_timer_) connect_timer_->cancel();
  if (failing_) {
    log::info("redis ", where_, ": connected again");
  } else {
    log::debug("redis ", where_, ": connected");
  }
  failing_ = false;
}

void Connection::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  // Success needs nothing: readiness is the handshake's reply.
  if (!self || ac != self->ac_ || status == REDIS_OK) return;
  // hiredis frees the context as soon as this returns.
  const_cast<redisAsyncContext*>(ac)->data = nullptr;
  self->lost(ac->errstr ? ac->errstr : "connect failed");
}

void Connection::on_disconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!self || ac != self->ac_) return;
  const_cast<redisAsyncContext*>(ac)->data = nullptr;
  self->lost(ac->err && ac->errstr ? ac->errstr : "closed by the server");
}

void Connection::on_handshake_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!self || ac != self->ac_ || !reply) return;
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    self->drop("handshake (AUTH/SELECT/PING) refused: " + std::string(r->str, r->len));
    return;
  }
  if (privdata == &last_handshake) self->answered();
}

}  // namespace relay::storage::redis
