// Liveness and readiness (health.hpp). A loop probe posts a no-op to each
// loop and waits on a timer on the admin loop; replies come back by posting
// to the admin loop, so the probe's state is only touched there. A loop that
// has stopped (its share of a drain is done) is reported, not failed.
#include "relay/admin/health.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <optional>

#include "../storage/redis/connection.hpp"
#include "../storage/redis/endpoint.hpp"
#include "relay/util/json.hpp"

namespace relay::admin {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

// One probe round's replies; touched on the admin loop only.
struct Probe {
  std::vector<std::optional<steady::duration>> lag;
  std::size_t pending = 0;
  asio::steady_timer* timer = nullptr;  // null once the round is over
};

double millis(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

bool uses_disk(const config::StorageConfig& s) {
  return s.backend == config::StorageBackend::Disk || s.tier == config::Tier::MemoryDisk;
}

}  // namespace

bool uses_redis(const config::Config& cfg) {
  return cfg.storage.backend == config::StorageBackend::Redis || cfg.storage.tier == config::Tier::MemoryRedis ||
         cfg.maintenance.lock == config::MaintenanceLock::Redis;
}

struct Health::Check {
  bool ok = true;
  std::string json;  // the check's object
};

Health::Health(const config::Config& cfg, asio::io_context& admin_loop, std::vector<asio::io_context*> loops)
    : cfg_(cfg), admin_loop_(admin_loop), loops_(std::move(loops)) {}

Health::~Health() = default;

asio::awaitable<Reply> Health::healthz() {
  auto probe = std::make_shared<Probe>();
  probe->lag.resize(loops_.size());
  asio::steady_timer timer(admin_loop_, kLoopDeadline);
  probe->timer = &timer;
  // Replies arriving after this frame is gone (cancelled mid-wait) must not touch the timer.
  struct Release {
    Probe& probe;
    ~Release() { probe.timer = nullptr; }
  } release{*probe};
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    if (loops_[i]->stopped()) continue;
    ++probe->pending;
    const auto sent = steady::now();
    asio::post(*loops_[i], [probe, i, sent, &admin = admin_loop_] {
      const auto lag = steady::now() - sent;
      asio::post(admin, [probe, i, lag] {
        probe->lag[i] = lag;
        if (--probe->pending == 0 && probe->timer) probe->timer->cancel();
      });
    });
  }
  if (probe->pending > 0) co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));

  bool healthy = true;
  std::vector<std::string> loops;
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    json::Object loop;
    loop.add("loop", static_cast<std::int64_t>(i));
    if (probe->lag[i]) {
      loop.add("state", "running").add("lag_ms", millis(*probe->lag[i]));
    } else if (loops_[i]->stopped()) {
      loop.add("state", "stopped");
    } else {
      healthy = false;
      loop.add("state", "unresponsive").add("lag_ms", millis(kLoopDeadline));
    }
    loops.push_back(loop.str());
  }
  co_return json_reply(healthy ? 200 : 503,
                       json::Object()
                           .add("status", healthy ? "ok" : "unresponsive")
                           .add("version", RELAY_VERSION)
                           .add("uptime_seconds", std::chrono::duration<double>(steady::now() - started_).count())
                           .add("draining", draining_.load())
                           .add_raw("loops", json::array(loops))
                           .str());
}

Health::Check Health::check_storage() const {
  const auto& s = cfg_.storage;
  Check check;
  json::Object out;
  out.add("backend", config::name_of(s.backend));
  if (s.tier != config::Tier::None) out.add("tier", config::name_of(s.tier));
  if (uses_disk(s)) {
    out.add("path", s.disk.path);
    if (::access(s.disk.path.c_str(), R_OK | W_OK | X_OK) != 0) {
      check.ok = false;
      out.add("error", "cache directory not usable: " + std::string(std::strerror(errno)));
    }
  }
  check.json = out.add("ok", check.ok).str();
  return check;
}

asio::awaitable<Health::Check> Health::check_redis() {
  const auto& r = cfg_.storage.redis;
  if (!redis_) {
    redis_ = storage::redis::Connection::create(admin_loop_.get_executor(), storage::redis::options_for(r));
  }
  const auto began = steady::now();
  storage::redis::Command ping;
  ping.emplace_back("PING");
  auto reply = co_await redis_->command(std::move(ping));
  json::Object out;
  const auto server = storage::redis::current_endpoint(r);
  out.add("server", server.host + ":" + std::to_string(server.port));
  Check check;
  if (!reply) {
    check.ok = false;
    out.add("error", "unreachable: " + reply.error().message());
  } else if (reply->is_error() || reply->str != "PONG") {
    check.ok = false;
    out.add("error", "PING answered \"" + reply->str + "\"");
  } else {
    out.add("latency_ms", millis(steady::now() - began));
  }
  check.json = out.add("ok", check.ok).str();
  co_return check;
}

asio::awaitable<Reply> Health::readyz() {
  std::vector<std::string> failing;
  json::Object checks;
  const bool draining = draining_.load();
  checks.add_raw("listening", json::Object()
                                  .add("ok", !draining)
                                  .add("address", cfg_.server.listen.text)
                                  .add("draining", draining)
                                  .str());
  if (draining) failing.push_back(json::quote("listening"));
  const auto storage = check_storage();
  checks.add_raw("storage", storage.json);
  if (!storage.ok) failing.push_back(json::quote("storage"));
  if (uses_redis(cfg_)) {
    const auto redis = co_await check_redis();
    checks.add_raw("redis", redis.json);
    if (!redis.ok) failing.push_back(json::quote("redis"));
  }
  const bool ready = failing.empty();
  co_return json_reply(ready ? 200 : 503, json::Object()
                                              .add("status", ready ? "ready" : (draining ? "draining" : "not ready"))
                                              .add_raw("not_ready", json::array(failing))
                                              .add_raw("checks", checks.str())
                                              .str());
}

}  // namespace relay::admin
