// Every origin pool of the process ([[origins]] plus the implicit "default"
// one), in Config::origins order, with their per-member metrics, and the
// active health checks. Checks run on a thread and loop of their own with
// their own curl multi handle: they never compete with client traffic for
// an event loop or an origin connection slot, and stopping them does not
// depend on any worker's shutdown order.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/gateway/origin_pool.hpp"
#include "relay/metrics/origin_metrics.hpp"

namespace prometheus {
class Registry;
}

namespace relay::gateway {

class Origins {
 public:
  Origins(const config::Config& cfg, prometheus::Registry& registry);
  ~Origins();
  Origins(const Origins&) = delete;
  Origins& operator=(const Origins&) = delete;

  std::size_t size() const noexcept { return pools_.size(); }
  OriginPool& pool(std::size_t index) { return *pools_[index].state; }
  const metrics::MemberMetrics& member_metrics(std::size_t pool, std::size_t member) const {
    return pools_[pool].metrics[member];
  }
  std::optional<std::size_t> find(std::string_view name) const;

  // Starts the health checks (pools with health_check.path) and the health
  // gauges' refresh; stop() ends them and joins the thread.
  void start();
  void stop();

  // A pool member was ejected or came back: logged once, gauge updated.
  void note_health(std::size_t pool, std::size_t member, bool up, std::string_view why);

 private:
  struct Pool {
    std::unique_ptr<OriginPool> state;
    config::OriginPool cfg;
    std::vector<metrics::MemberMetrics> metrics;
  };
  struct Checks;  // the thread, its loop and curl multi handle (origins.cpp)

  std::vector<Pool> pools_;
  std::unique_ptr<Checks> checks_;
};

}  // namespace relay::gateway
