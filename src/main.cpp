// relay: command line -> Config -> server (or --check-config, which also
// runs the start-up checks of server/preflight.hpp, or --print-config).
// Start-up errors (bad config, address in use) are reported here and exit
// non-zero.
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relay/cli/purge_command.hpp"
#include "relay/config/config.hpp"
#include "relay/config/print.hpp"
#include "relay/config/schema.hpp"
#include "relay/server/preflight.hpp"
#include "relay/server/reload.hpp"
#include "relay/server/server.hpp"
#include "relay/util/log.hpp"

namespace {

// One screen: what to run, the flags, and where to read further.
constexpr std::string_view usage = R"(relay - an HTTP caching reverse proxy

Usage:
  relay [--config FILE]          run the proxy (no FILE: built-in defaults)
  relay --check-config [FILE]    validate the configuration, exit (nginx -t)
  relay --print-config [FILE]    print the configuration in force as TOML, each
                                 value with its source (nginx -T)
  relay purge [--config FILE] [--soft] URL|--prefix URL|--tag TAG|--all
                                 purge through the admin API; prints the count
  relay --version | --help       (-V, -h)

Flags:
  -c, --config FILE      the TOML configuration file
  -t, --check-config     check FILE (or --config FILE) and what a start needs
                         (access log file, spool_dir, listen address): 0 valid
  -T, --print-config     defaults < FILE < RELAY_* environment; secrets masked

Any key can also be set from the environment as RELAY_<SECTION>_<KEY>,
e.g. RELAY_UPSTREAM_URL=http://127.0.0.1:9000 (the environment wins).
Every key, its default and its nginx/Varnish name: relay.example.toml.
Docs: README.md (operating), docs/caching.md (HTTP caching rules).
SIGTERM/SIGINT: drain, exit 0 (1 if server.shutdown_grace cut requests).
SIGHUP: reload FILE and the environment. SIGUSR1: reopen the access log.
)";

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "relay: %s\n\n%.*s", message.c_str(), static_cast<int>(usage.size()), usage.data());
  return 2;
}

// One line for every RELAY_* variable that names no config section, such
// as the RELAY_PORT and RELAY_SERVICE_HOST Kubernetes sets for a Service
// named "relay" (service links).
void warn_ignored_environment(const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  relay::log::warn("ignoring environment variables that name no config section (RELAY_<SECTION>_<KEY>; ",
                   "Kubernetes service links?): ", list);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "purge") return relay::cli::purge_command(argc - 2, argv + 2);
  std::string config_path;
  bool check_only = false;
  bool print_config = false;
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
    if (arg == "--print-config" || arg == "-T") {
      print_config = true;
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

  if (check_only && print_config) return fail_usage("--check-config and --print-config exclude each other");
  if (check_only && config_path.empty()) return fail_usage("--check-config needs a file name");
  relay::config::LoadResult loaded;
  try {
    auto env = relay::config::relay_environment();
    loaded = config_path.empty() ? relay::config::load_defaults_with_sources(env)
                                 : relay::config::load_file_with_sources(config_path, env);
  } catch (const relay::config::ConfigError& e) {
    std::fprintf(stderr, "relay: invalid configuration: %s\n", e.what());
    return 1;
  }
  relay::server::apply_log_level(loaded.config.log.level);
  warn_ignored_environment(loaded.ignored_environment);
  if (check_only) {
    try {
      for (const auto& note : relay::server::preflight(loaded)) std::fprintf(stderr, "relay: note: %s\n", note.c_str());
    } catch (const relay::config::ConfigError& e) {
      std::fprintf(stderr, "relay: invalid configuration: %s\n", e.what());
      return 1;
    }
    std::printf("relay: %s is valid\n", config_path.c_str());
    return 0;
  }
  if (print_config) {
    const auto text = relay::config::print_config(loaded);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  try {
    return relay::server::run_server(std::make_shared<const relay::config::Config>(std::move(loaded.config)),
                                     config_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay: %s\n", e.what());
    return 1;
  }
}
