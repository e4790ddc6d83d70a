// Chooses the storage named in [storage]: the backend (or the lower level of
// a tier), zstd at rest around it when asked, a memory tier in front.
// max_object_size is the request path's to apply, per rule, on each writer
// it opens (storage::limit_body_size).
#include "relay/storage/make_storage.hpp"

#include <algorithm>

#include "relay/storage/compressed_store.hpp"
#include "relay/storage/disk_store.hpp"
#include "relay/storage/memory_lru.hpp"
#include "relay/storage/redis_store.hpp"
#include "relay/storage/tiered_store.hpp"

namespace relay::storage {
namespace {

Eviction eviction_of(config::Eviction e) {
  switch (e) {
    case config::Eviction::Lfu: return Eviction::lfu;
    case config::Eviction::Fifo: return Eviction::fifo;
    case config::Eviction::Lru: break;
  }
  return Eviction::lru;
}

// One shard keeps the eviction policy exact; with several event-loop
// threads, enough shards that two threads' hits rarely meet on a lock.
std::size_t memory_shards(const config::Config& cfg) {
  const std::size_t threads = config::event_loop_threads(cfg.server);
  return threads == 1 ? 1 : std::max<std::size_t>(16, 4 * threads);
}

}  // namespace

StorageStack make_storage(const config::Config& cfg) {
  const auto& sc = cfg.storage;
  // Validation guarantees tier is none or "memory+<backend>" consistent with backend.
  const auto kind = sc.tier == config::Tier::None ? sc.backend : config::lower_level(sc.tier);

  std::shared_ptr<Storage> base;
  if (kind == config::StorageBackend::Disk) {
    base = make_disk_store(sc.disk);
  } else if (kind == config::StorageBackend::Redis) {
    base = make_redis_store(sc.redis);
    warn_about_eviction_policy(sc.redis);
  } else {
    base = std::make_shared<MemoryLru>(sc.max_size, eviction_of(sc.eviction), real_clock(), memory_shards(cfg));
  }

  StorageStack stack;
  // Taken before compression wraps the backend: decorators hide it.
  if (auto m = std::dynamic_pointer_cast<Maintainable>(base)) stack.maintenance.push_back(std::move(m));
  if (sc.compression == config::Compression::Zstd) base = make_compressed_store(std::move(base), sc);

  if (kind == config::StorageBackend::Redis && cfg.cache.coalesce.enabled && cfg.cache.coalesce.distributed) {
    stack.lock = make_redis_lock(sc.redis);
  }
  if (cfg.maintenance.lock == config::MaintenanceLock::Redis) {
    stack.maintenance_lock = stack.lock ? stack.lock : make_redis_lock(sc.redis);
  }
  if (sc.tier == config::Tier::None) {
    stack.top = base;
    stack.levels = {base};
    return stack;
  }
  auto upper = std::make_shared<MemoryLru>(sc.max_size, eviction_of(sc.eviction), real_clock(), memory_shards(cfg));
  stack.levels = {upper, base};
  stack.top = make_tiered_store(std::move(upper), std::move(base));
  return stack;
}

}  // namespace relay::storage
