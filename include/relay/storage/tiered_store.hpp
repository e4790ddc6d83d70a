// A fast upper store (memory) in front of a larger lower one (disk, Redis).
// get: upper first; on an upper miss the lower hit is streamed to the caller
// and copied into the upper store as it is read (committed only when the
// whole body was read). put: written to both. update_meta, remove: both.
// stats(): the lower store's, with the upper store's under its own label.
#pragma once

#include <memory>

#include "relay/storage/storage.hpp"

namespace relay::storage {

std::shared_ptr<Storage> make_tiered_store(std::shared_ptr<Storage> upper, std::shared_ptr<Storage> lower);

}  // namespace relay::storage
