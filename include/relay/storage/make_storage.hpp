// Builds the configured storage: backend, optional zstd at rest, optional
// memory tier in front.
#pragma once

#include <memory>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/storage/distributed_lock.hpp"
#include "relay/storage/maintenance.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage {

struct StorageStack {
  std::shared_ptr<Storage> top;                  // what the proxy reads and writes
  std::vector<std::shared_ptr<Storage>> levels;  // each level on its own, for per-backend metrics
  std::shared_ptr<DistributedLock> lock;         // cross-instance fill lock (Redis), or null
  // Backends with scheduled cleanup (the disk store), reached directly: the
  // decorators in front of them do not forward it.
  std::vector<std::shared_ptr<Maintainable>> maintenance;
  // Guards each maintenance round across instances with [maintenance]
  // lock = "redis" (the fill lock when there is one, else a lock of its own
  // on [storage.redis]); null: every instance runs every round.
  std::shared_ptr<DistributedLock> maintenance_lock;
};

// Throws std::runtime_error when a backend cannot start (e.g. unusable disk path).
StorageStack make_storage(const config::Config& cfg);

}  // namespace relay::storage
