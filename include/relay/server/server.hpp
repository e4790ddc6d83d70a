// The daemon: N event-loop threads sharing one listening socket (so a second
// instance on the same address fails to start), each with its own curl multi
// and handler, sharing storage and metrics.
// SIGTERM/SIGINT stop accepting, let in-flight requests finish within
// server.shutdown_grace, then cancel what is left (supervisor.hpp). SIGHUP
// and POST /reload reload the configuration (reload.hpp), SIGUSR1 reopens
// the access log file.
#pragma once

#include <memory>
#include <string>

#include "relay/config/config.hpp"

namespace relay::server {

// Blocks until shutdown. Returns the process exit code: 0 after a clean
// drain, 1 when the grace period cut requests. Throws
// std::runtime_error when the listen address cannot be bound.
// config_path: the file a reload reads again ("" = defaults and environment).
int run_server(std::shared_ptr<const config::Config> config, std::string config_path);

}  // namespace relay::server
