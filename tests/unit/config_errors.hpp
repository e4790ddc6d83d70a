// Loading configuration text in tests: the Config it gives, or the
// ConfigError it loads with, for table-driven tests of messages (key and
// "relay.toml:LINE").
#pragma once

#include <string>

#include "relay/config/config.hpp"

namespace relay::test {

// The message of the ConfigError loading `toml` (named relay.toml) with
// `env` throws, or "" when it loads.
inline std::string config_load_error(const std::string& toml, const config::Environment& env = {}) {
  try {
    config::load_from_string(toml, "relay.toml", env);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

// The Config `toml` (named relay.toml) loads to with `env`; throws as the loader does.
inline config::Config load(const std::string& toml, const config::Environment& env = {}) {
  return config::load_from_string(toml, "relay.toml", env);
}

}  // namespace relay::test
