// zstd compression at rest, as a decorator around any backend. Bodies whose
// Content-Type matches compression_types and whose Content-Length (when
// known) is at least compression_min_size are compressed while they are
// written and decompressed while they are read; clients always get exactly
// the bytes the origin sent. Stored entries carry the facts needed to undo
// it in their metadata; callers see the original headers and body_size.
#pragma once

#include <memory>

#include "relay/config/config.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage {

std::shared_ptr<Storage> make_compressed_store(std::shared_ptr<Storage> inner, const config::StorageConfig& cfg);

}  // namespace relay::storage
