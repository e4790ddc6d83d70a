// Hot reload (reload.hpp): load, check, compare, apply, count.
#include "relay/server/reload.hpp"

#include <stdexcept>

#include "relay/config/schema.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/access_log.hpp"
#include "relay/server/preflight.hpp"
#include "relay/util/log.hpp"

namespace relay::server {

std::string_view name_of(ReloadResult::Kind kind) noexcept {
  switch (kind) {
    case ReloadResult::Kind::Success: return "success";
    case ReloadResult::Kind::Refused: return "refused";
    case ReloadResult::Kind::Failure: break;
  }
  return "failure";
}

void apply_log_level(config::LogLevel level) {
  using L = config::LogLevel;
  switch (level) {
    case L::Error: return log::set_level(log::Level::error);
    case L::Warn: return log::set_level(log::Level::warn);
    case L::Debug: return log::set_level(log::Level::debug);
    case L::Info: break;
  }
  log::set_level(log::Level::info);
}

Reloader::Reloader(std::string config_path, config::Live& live, proxy::AccessLog& access_log,
                   metrics::Metrics& metrics)
    : config_path_(std::move(config_path)), live_(live), access_log_(access_log), metrics_(metrics) {}

ReloadResult Reloader::reload(std::string_view trigger) {
  std::lock_guard one_at_a_time(mutex_);
  log::info(trigger, ": reloading the configuration", config_path_.empty() ? "" : " from ", config_path_);
  auto result = attempt();
  metrics_.record_config_reload(name_of(result.kind));
  if (result.kind == ReloadResult::Kind::Success)
    log::info(result.message);
  else
    log::error(result.message);
  return result;
}

ReloadResult Reloader::attempt() {
  const auto failed = [this](ReloadResult::Kind kind, std::string message) {
    return ReloadResult{kind, live_.generation(), std::move(message)};
  };
  config::LoadResult loaded;
  try {
    auto env = config::relay_environment();
    loaded = config_path_.empty() ? config::load_defaults_with_sources(env)
                                  : config::load_file_with_sources(config_path_, env);
    // Its one note is server.listen in use, which it always is here: by us.
    preflight(loaded);
  } catch (const config::ConfigError& e) {
    return failed(ReloadResult::Kind::Failure, std::string("config reload failed: ") + e.what());
  }
  const auto running = live_.get();
  if (auto key = config::restart_needed(*running, loaded.config))
    return failed(ReloadResult::Kind::Refused, "reload refused: " + *key + " changed (needs a restart)");

  // The one step that can still fail, before anything else changes.
  try {
    access_log_.reconfigure(loaded.config.log);
  } catch (const std::runtime_error& e) {
    return failed(ReloadResult::Kind::Failure, std::string("config reload failed: ") + e.what());
  }
  auto next = std::make_shared<const config::Config>(std::move(loaded.config));
  apply_log_level(next->log.level);
  const auto generation = live_.set(next);
  for (const auto& apply : appliers_) apply(next);
  return {ReloadResult::Kind::Success, generation,
          "configuration reloaded (generation " + std::to_string(generation) + ")"};
}

}  // namespace relay::server
