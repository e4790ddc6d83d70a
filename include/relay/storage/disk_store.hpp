// Content-addressed disk storage that survives restarts.
//
// Layout under [storage.disk] path:
//   objects/ab/cdef...   bodies, named by the SHA-256 of their bytes; one
//                        file per distinct body, shared by every key with it
//   meta/ab/cdef...      one record per cache key (named by the SHA-256 of
//                        CacheKey::flat()): key, status, headers, times,
//                        keep_for, internal meta (kind, Vary index,
//                        encoding, raw size), body hash, body size, the SHA-256 of each 64 KiB
//                        block of the body
//   tmp/                 files being written; anything here at start is debris
// Invariants: a body file is complete before any record names it (write to
// tmp/, fsync, rename); a record is replaced atomically (tmp + rename); no
// byte of a block that no longer matches its hash is ever read out, whether
// the body is read whole or from an offset (BodyReader::start_at), and such
// a body is dropped. On start the index is rebuilt from meta/, orphans,
// tmp/ and records of an older format are deleted.
// All file I/O runs on a small thread pool, never on an event-loop thread.
// The store is also Maintainable (maintenance.hpp): a periodic sweep removes
// entries whose keep_for has passed, their unshared bodies and abandoned
// tmp/ files, instead of leaving them until size pressure evicts them.
#pragma once

#include <memory>

#include "relay/config/config.hpp"
#include "relay/storage/clock.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage {

// Opens (creating if needed) and indexes the cache directory; logs what
// was recovered. Throws std::runtime_error when the path is unusable.
// clock decides when keep_for has passed and stamps the record mtimes that
// keep the access order across restarts.
std::shared_ptr<Storage> make_disk_store(const config::DiskStorageConfig& cfg, Clock clock = real_clock());

}  // namespace relay::storage
