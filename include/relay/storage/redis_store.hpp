// Redis storage shared by several relay instances.
//
// Driven by the hiredis async API on the Asio event loops (one connection per
// loop, created on first use, reconnected with back-off). Every command has
// a deadline ([storage.redis] command_timeout); while Redis is unreachable
// calls fail fast with Errc::storage_unavailable, so the proxy passes
// through to the origin instead of waiting. Entries expire by themselves:
// TTL = EntryMeta::keep_for. Bodies are stored in chunks of chunk_size,
// and an entry becomes visible only when its metadata is written last
// (MULTI/EXEC), so a reader never sees half an entry.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "relay/config/config.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage {

// Throws std::runtime_error on an invalid url (validated again here).
std::shared_ptr<Storage> make_redis_store(const config::RedisStorageConfig& cfg);

// The server's maxmemory-policy, asked once over a short connection of its
// own (connect_timeout bounds it); nullopt when it cannot be had.
std::optional<std::string> redis_eviction_policy(const config::RedisStorageConfig& cfg);
// Logs a warning when that policy is allkeys-*: it evicts keys whether or not
// they have a TTL, so a stored body can lose a chunk and keep the rest
// (eviction_policy.cpp).
void warn_about_eviction_policy(const config::RedisStorageConfig& cfg);

}  // namespace relay::storage
