// relay's own listeners besides the client one: the admin API ([admin]
// listen, token, allow) and, with [metrics] listen = "host:port", a metrics
// listener of its own. Both run on one of the workers' event loops (the
// host) and keep answering while the client listener drains; /readyz
// turns 503 as soon as the drain begins. close() ends them once the
// client traffic is done.
//
// Admin endpoints (every answer JSON, errors RFC 9457 problem+json):
//   GET /healthz        the process and every event loop respond
//   GET /readyz         ready for traffic: listening, storage, Redis
//   GET [metrics] path  Prometheus text, when [metrics] listen = ""
//   POST /purge         a purge order (purge/order.hpp): how many entries it affected
//   POST /reload        re-read the configuration (server/reload.hpp): 200
//                       {"result":"success","generation":N}, 422 problem
//                       (invalid), 409 problem (a key needs a restart)
// New endpoints are rows of the Router (router.hpp) built in admin_server.cpp.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "relay/admin/purge_route.hpp"
#include "relay/config/config.hpp"
#include "relay/server/reload.hpp"
#include "relay/server/supervisor.hpp"

namespace relay::metrics {
class Metrics;
}
namespace relay::purge {
class Purger;
}

namespace relay::admin {

class Endpoints final : public server::Drainable {
 public:
  // Runs a reload for POST /reload; the argument says who asked.
  using ReloadFn = std::function<server::ReloadResult(std::string)>;

  // `host`: the loop the listeners run on; `loops`: every worker loop
  // (the health probe's targets); `reload`: empty for no /reload route.
  // `current`: the configuration in force (after reloads), which purge
  // orders are normalised with.
  Endpoints(std::shared_ptr<const config::Config> config, metrics::Metrics& metrics, purge::Purger& purger,
            CurrentConfig current, boost::asio::io_context& host, std::vector<boost::asio::io_context*> loops,
            ReloadFn reload = {});
  ~Endpoints() override;

  // Binds the configured listeners. Throws std::runtime_error naming the key.
  void listen();
  // Starts accepting, and logs where the admin API and the metrics are served.
  void start();
  // From any thread: stop accepting, close connections; on_closed then runs
  // on the host loop once everything has ended.
  void close();
  bool closed() const noexcept;
  std::function<void()> on_closed;

  // Drainable, from the supervisor: /readyz answers 503 from now on; the
  // listeners keep serving until close().
  void begin_drain() override;
  void cancel() override {}

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relay::admin
