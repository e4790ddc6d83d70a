// `relay --check-config` past the file itself: what start-up would refuse,
// checked without serving and without changing anything on disk. The access
// log file can be appended to (or created), the coalescing spool directory
// takes a temporary file (exactly the check the server makes at start), and
// server.listen can be bound (a test bind released at once).
#pragma once

#include <string>
#include <vector>

#include "relay/config/schema.hpp"

namespace relay::server {

// Throws config::ConfigError naming the key and where its value was set
// ("relay.toml:12: log.access_log: cannot create ..."). Returns notes worth
// printing that do not make the configuration invalid: server.listen in use
// right now, as it is while the relay being checked runs.
std::vector<std::string> preflight(const config::LoadResult& loaded);

}  // namespace relay::server
