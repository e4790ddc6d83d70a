// Chooses the storage backend named in [storage].
#include "relay/storage/make_storage.hpp"

#include "relay/storage/memory_lru.hpp"

namespace relay::storage {

std::shared_ptr<Storage> make_storage(const config::Config& cfg) {
  // config validation admits only the backends built here.
  return std::make_shared<MemoryLru>(cfg.storage.max_size, cfg.cache.max_object_size);
}

}  // namespace relay::storage
