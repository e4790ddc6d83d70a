// The one place max_object_size ([cache] or a rule's) is enforced on bodies
// (the Content-Length pre-check in cache/freshness.cpp refuses a declared
// size before any byte moves; this catches bodies without one). Applied
// outside zstd at rest, so it counts the bytes as the origin sent them,
// whatever the layers below make of them. A writer that goes past the
// limit fails with Errc::object_too_large and drops its inner writer, which
// aborts the entry: nothing of it becomes visible.
#pragma once

#include <cstdint>
#include <memory>

#include "relay/storage/storage.hpp"

namespace relay::storage {

// A writer that refuses its body past `limit` bytes (0 = unlimited: `inner`
// is returned as it is). The request path wraps each writer it opens with
// the limit of the request's rule, so a rule may set its own.
std::unique_ptr<BodyWriter> limit_body_size(std::unique_ptr<BodyWriter> inner, std::uint64_t limit);

// Every writer of the store limited alike. max_object_size 0 = unlimited.
std::shared_ptr<Storage> make_size_limited_store(std::shared_ptr<Storage> inner, std::uint64_t max_object_size);

}  // namespace relay::storage
