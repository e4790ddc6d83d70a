// The one place [cache] max_object_size is enforced on bodies (the
// Content-Length pre-check in cache/freshness.cpp refuses a declared size
// before any byte moves; this catches bodies without one). A decorator
// placed outside zstd at rest, so it counts the bytes as the origin sent
// them, whatever the layers below make of them. A writer that goes past the
// limit fails with Errc::object_too_large and drops its inner writer, which
// aborts the entry: nothing of it becomes visible.
#pragma once

#include <cstdint>
#include <memory>

#include "relay/storage/storage.hpp"

namespace relay::storage {

// max_object_size 0 = unlimited: inner is returned as it is.
std::shared_ptr<Storage> make_size_limited_store(std::shared_ptr<Storage> inner, std::uint64_t max_object_size);

}  // namespace relay::storage
