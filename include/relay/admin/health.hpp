// /healthz and /readyz. Health: the process answers and every event loop
// runs a posted no-op within kLoopDeadline (each loop's lag is reported).
// Readiness: the client listener accepts (not draining), the cache storage
// is usable (a disk cache directory writable) and Redis, where the config
// uses it, answers PING within [storage.redis] command_timeout. Both answer
// JSON; a failing check names itself, with 503.
// Invariant: healthz/readyz run on the admin loop; begin_drain() may be
// called from any thread.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "relay/admin/router.hpp"
#include "relay/config/config.hpp"

namespace relay::storage::redis {
class Connection;
}

namespace relay::admin {

inline constexpr std::chrono::milliseconds kLoopDeadline{1000};

class Health {
 public:
  // `loops`: every event loop serving clients (they outlive this object).
  Health(const config::Config& cfg, boost::asio::io_context& admin_loop, std::vector<boost::asio::io_context*> loops);
  ~Health();

  void begin_drain() noexcept { draining_.store(true); }
  boost::asio::awaitable<Reply> healthz();
  boost::asio::awaitable<Reply> readyz();

 private:
  struct Check;
  boost::asio::awaitable<Check> check_redis();
  Check check_storage() const;

  const config::Config& cfg_;
  boost::asio::io_context& admin_loop_;
  std::vector<boost::asio::io_context*> loops_;
  std::atomic<bool> draining_{false};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::shared_ptr<storage::redis::Connection> redis_;  // created on first use, on the admin loop
};

// Does this configuration talk to [storage.redis]'s server (storage,
// tier or maintenance lock)?
bool uses_redis(const config::Config& cfg);

}  // namespace relay::admin
