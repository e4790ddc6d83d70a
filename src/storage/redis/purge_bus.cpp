// The Redis purge bus (purge_bus.hpp): one connection subscribed to
// "<key_prefix>purge" and one to publish on, both on the bus's loop. A
// watch timer resubscribes after a lost connection (the connection's own
// back-off paces the attempts); messages published meanwhile are lost, as
// pub/sub keeps nothing. Messages are purge_message.hpp's.
//
// Threads: publish(), start() and stop() hand their work to the loop; the
// state they share with it lives in State, which handlers keep alive, so
// the bus may go before its loop does.
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>

#include "connection.hpp"
#include "purge_message.hpp"
#include "relay/storage/purge_bus.hpp"
#include "relay/util/log.hpp"
#include "store.hpp"

namespace relay::storage {
namespace redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// How soon a lost subscription is noticed; reconnecting itself backs off.
constexpr auto watch_interval = 50ms;
// Publishing tries this often, pausing 100, 200, 400 ms between attempts.
constexpr int publish_attempts = 4;
constexpr auto publish_retry = 100ms;

struct State : std::enable_shared_from_this<State> {
  State(asio::io_context& loop, Options opts, std::string channel_name)
      : ex(loop.get_executor()), options(std::move(opts)), channel(std::move(channel_name)), instance(random_id()) {}

  asio::any_io_executor ex;
  Options options;
  const std::string channel;
  const std::string instance;

  // Loop only.
  std::shared_ptr<Connection> subscriber, publisher;
  std::unique_ptr<asio::steady_timer> watch_timer;
  bool warned = false;  // one log line per outage of the subscription

  // Held while delivering, so stop() from another thread returns only once
  // no delivery runs; recursive for a stop() from inside a delivery.
  std::recursive_mutex deliver_mutex;
  std::function<void(PurgeRequest)> deliver;
  std::atomic<bool> stopped{false};

  void watch() {
    if (stopped) return;
    if (!subscriber) subscriber = Connection::create(ex, options);
    if (!subscriber->subscribed()) {
      bool ok = subscriber->subscribe(channel, [weak = weak_from_this()](std::string_view payload) {
        if (auto self = weak.lock()) self->received(payload);
      });
      if (!ok && !warned) log::warn("purge bus: cannot subscribe to ", channel, "; retrying");
      if (ok && warned) log::info("purge bus: subscribed to ", channel, " again");
      warned = !ok;
    }
    if (!watch_timer) watch_timer = std::make_unique<asio::steady_timer>(ex);
    watch_timer->expires_after(watch_interval);
    watch_timer->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->watch();
    });
  }

  void received(std::string_view payload) {
    auto message = decode_purge(payload);
    if (!message) {
      log::warn("purge bus: ignoring an unreadable message on ", channel, " (", payload.size(), " bytes)");
      return;
    }
    if (message->instance == instance) return;  // carried out before it was sent
    std::lock_guard lock(deliver_mutex);
    if (stopped || !deliver) return;
    deliver(std::move(message->request));
  }

  void close() {
    if (watch_timer) watch_timer->cancel();
    if (subscriber) subscriber->close();
    if (publisher) publisher->close();
  }
};

// A free function, so that its frame owns the state it needs. A few
// retries: the first call after an outage only starts the reconnect (a
// connection fails fast until it has proven itself again).
asio::awaitable<void> send(std::shared_ptr<State> state, std::string message) {
  std::string why = "Redis unreachable";
  auto pause = publish_retry;
  for (int attempt = 0; attempt < publish_attempts && !state->stopped; ++attempt, pause *= 2) {
    if (attempt > 0) {
      asio::steady_timer timer(state->ex, pause);
      co_await timer.async_wait(asio::use_awaitable);
    }
    if (!state->publisher) state->publisher = Connection::create(state->ex, state->options);
    Command command{"PUBLISH", state->channel, message};
    auto reply = co_await state->publisher->command(std::move(command));
    if (reply && !reply->is_error()) co_return;
    if (reply) why = reply->str;
  }
  log::warn("purge bus: publishing on ", state->channel, " failed (", why,
            "); other instances keep their copies until they expire");
}

class RedisPurgeBus final : public PurgeBus {
 public:
  RedisPurgeBus(asio::io_context& loop, Options options, std::string channel)
      : state_(std::make_shared<State>(loop, std::move(options), std::move(channel))) {}
  ~RedisPurgeBus() override { stop(); }

  void publish(const PurgeRequest& request) override {
    if (state_->stopped) return;
    asio::co_spawn(state_->ex, send(state_, encode_purge(state_->instance, request)), asio::detached);
  }

  void start(std::function<void(PurgeRequest)> deliver) override {
    {
      std::lock_guard lock(state_->deliver_mutex);
      state_->deliver = std::move(deliver);
    }
    asio::post(state_->ex, [state = state_] { state->watch(); });
  }

  void stop() override {
    {
      std::lock_guard lock(state_->deliver_mutex);
      if (state_->stopped.exchange(true)) return;
    }
    asio::post(state_->ex, [state = state_] { state->close(); });
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace
}  // namespace redis

std::unique_ptr<PurgeBus> make_redis_purge_bus(const config::RedisStorageConfig& cfg, boost::asio::io_context& loop) {
  return std::make_unique<redis::RedisPurgeBus>(loop, redis::options_for(cfg), cfg.key_prefix + "purge");
}

}  // namespace relay::storage
