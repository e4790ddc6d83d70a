// relay: command line -> Config -> server. Start-up errors (bad config,
// address in use) are reported here and exit non-zero.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "relay/config/config.hpp"
#include "relay/server/server.hpp"
#include "relay/util/log.hpp"

namespace {

constexpr std::string_view usage = R"(relay - an HTTP caching reverse proxy

Usage:
  relay [--config FILE]        run the proxy (default: built-in defaults + RELAY_* environment)
  relay --check-config FILE    validate a configuration file and exit (also: -c FILE -t)
  relay --version              print the version
  relay --help                 print this help

Every configuration key can be overridden from the environment as
RELAY_<SECTION>_<KEY>, e.g. RELAY_SERVER_LISTEN=127.0.0.1:8080 or
RELAY_UPSTREAM_URL=http://127.0.0.1:9000. See relay.example.toml.
)";

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "relay: %s\n\n%.*s", message.c_str(), static_cast<int>(usage.size()), usage.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      return 0;
    }
    if (arg == "--version" || arg == "-V") {
      std::printf("relay %s\n", RELAY_VERSION);
      return 0;
    }
    if (arg == "--check-config" || arg == "-t") {
      // Like `nginx -t`: the file may follow, or come from --config.
      check_only = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') config_path = argv[++i];
      continue;
    }
    if (arg == "--config" || arg == "-c") {
      if (i + 1 >= argc) return fail_usage(std::string(arg) + " needs a file name");
      config_path = argv[++i];
      continue;
    }
    if (arg.starts_with("--config=")) {
      config_path = std::string(arg.substr(9));
      continue;
    }
    return fail_usage("unknown argument '" + std::string(arg) + "'");
  }

  if (check_only && config_path.empty()) return fail_usage("--check-config needs a file name");
  relay::config::Config cfg;
  try {
    auto env = relay::config::relay_environment();
    cfg = config_path.empty() ? relay::config::load_defaults(env)
                              : relay::config::load_from_file(config_path, env);
  } catch (const relay::config::ConfigError& e) {
    std::fprintf(stderr, "relay: invalid configuration: %s\n", e.what());
    return 1;
  }
  if (check_only) {
    std::printf("relay: %s is valid\n", config_path.c_str());
    return 0;
  }

  relay::log::set_level(relay::log::parse_level(cfg.log.level));
  // A peer that vanishes must be an error return, not a signal: hiredis and
  // curl write to sockets with plain write().
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return relay::server::run_server(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay: %s\n", e.what());
    return 1;
  }
}
