// Hot reload (SIGHUP, POST /reload): re-read the file given at start and
// the RELAY_* environment, check everything first (the loader's validation
// and --check-config's start-up checks), refuse a change to a restart-only
// key (config/reload.hpp), then apply: the access log and the log level
// here, everything else by the appliers, which hand the new snapshot to
// each event loop. Requests and connections already running keep the
// snapshot they started with. Nothing is applied unless all of it can be.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/config/reload.hpp"

namespace relay::metrics {
class Metrics;
}
namespace relay::proxy {
class AccessLog;
}

namespace relay::server {

struct ReloadResult {
  // The relay_config_reloads_total{result} label, name_of().
  enum class Kind { Success, Failure, Refused };
  Kind kind = Kind::Failure;
  std::uint64_t generation = 0;  // of the configuration in force afterwards
  std::string message;           // what the log line says
};

std::string_view name_of(ReloadResult::Kind kind) noexcept;

// The diagnostic log's level for log.level (at start and on every reload).
void apply_log_level(config::LogLevel level);

class Reloader {
 public:
  using Applier = std::function<void(const std::shared_ptr<const config::Config>&)>;

  // config_path: the --config file ("" = defaults and environment only).
  Reloader(std::string config_path, config::Live& live, proxy::AccessLog& access_log, metrics::Metrics& metrics);

  // Called, in order, with every configuration a reload applies; they must
  // not fail (anything that can fail is checked before).
  void on_apply(Applier applier) { appliers_.push_back(std::move(applier)); }

  // From any thread; one reload at a time. `trigger` is for the log line
  // ("SIGHUP", "POST /reload from 127.0.0.1").
  ReloadResult reload(std::string_view trigger);

 private:
  ReloadResult attempt();

  std::string config_path_;
  config::Live& live_;
  proxy::AccessLog& access_log_;
  metrics::Metrics& metrics_;
  std::vector<Applier> appliers_;
  std::mutex mutex_;
};

}  // namespace relay::server
