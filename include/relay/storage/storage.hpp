// The Storage interface: bytes and metadata under a key, nothing more.
// HTTP rules live in cache/ and proxy/; a backend never looks inside headers.
//
// Invariants every backend keeps:
// - A body is read through a BodyReader chunk by chunk: memory per reader is
//   bounded by one chunk, whatever the object size.
// - A BodyWriter destroyed without commit() leaves no trace: readers never
//   see a partial entry. commit() publishes atomically, replacing any older
//   entry under the same key.
// - Every method is safe to call from any event-loop thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/http/body.hpp"
#include "relay/http/headers.hpp"
#include "relay/storage/cache_key.hpp"
#include "relay/storage/purge.hpp"
#include "relay/util/result.hpp"
#include "relay/util/time.hpp"

namespace relay::storage {

using SysTime = std::chrono::system_clock::time_point;

// What an entry under a URL's own key is.
enum class EntryKind : std::uint8_t {
  response,    // a stored response: status, headers, body
  vary_index,  // the URL's responses vary: InternalMeta::vary names how
};

enum class BodyEncoding : std::uint8_t {
  identity,  // the body as the origin sent it
  zstd,      // one zstd frame of it (compressed_store.hpp)
};

// The Vary fields of a URL's responses and the generation its variants are
// filed under (CacheKey::variant). A new index gets a new generation.
struct VaryIndex {
  std::string names;       // the Vary field value, normalised (cache::vary_names)
  std::string generation;  // random, never empty in a stored index
  bool operator==(const VaryIndex&) const = default;
};

// Facts storage keeps about an entry for itself and the cache layer, never
// HTTP fields: no layer encodes them into headers, and every backend
// serialises them in its own record format.
struct InternalMeta {
  EntryKind kind = EntryKind::response;
  VaryIndex vary;  // kind == vary_index only
  BodyEncoding encoding = BodyEncoding::identity;
  // zstd: the body's size as the origin sent it; nullopt while the writer
  // of a body without Content-Length has not published it yet, an entry
  // that readers then treat as not there (compressed_store.cpp).
  std::optional<std::uint64_t> raw_size;
  // zstd, raw_size pending: which writer may publish it (0 = none).
  std::uint64_t pending_writer = 0;
  // Purge tags (Surrogate-Key, Cache-Tag) the cache layer took from the
  // response at store time. Backends keep an index from tag to entries that
  // survives a restart where the entries do (disk, Redis).
  std::vector<std::string> tags;
  // Set by a soft purge: the entry is stale from this moment on, whatever
  // its freshness said (cache::classify); stale-while-revalidate and
  // stale-if-error windows count from it. A response stored or revalidated
  // afterwards carries none.
  std::optional<SysTime> stale_at;
  bool operator==(const InternalMeta&) const = default;
};

struct EntryMeta {
  int status = 200;
  std::string reason;
  http::Headers headers;   // end-to-end fields as stored
  SysTime request_time{};  // when the request that produced it was sent
  SysTime response_time{}; // when its response head arrived
  std::uint64_t body_size = 0;  // set by the backend on commit
  // How long the entry is worth keeping at most (freshness + stale windows +
  // [storage] keep_time), decided by the cache layer. Backends that expire
  // entries by themselves (Redis) use it as the TTL; 0 = no limit.
  std::chrono::seconds keep_for{0};
  InternalMeta internal;
};

inline bool is_vary_index(const EntryMeta& meta) noexcept { return meta.internal.kind == EntryKind::vary_index; }

// keep_for has passed: the cache layer no longer wants the entry. The sum
// saturates, so a keep time reaching past the clock's range (an Expires in
// 2300) keeps the entry instead of wrapping into the past.
inline bool expired(const EntryMeta& meta, SysTime now) noexcept {
  return meta.keep_for.count() > 0 && saturating_add(meta.response_time, meta.keep_for) < now;
}

// A stored body: a BodySource (http/body.hpp) that may skip ahead.
class BodyReader : public http::BodySource {
 public:
  // Called before the first read() by a caller that wants only the bytes
  // from `offset` on (a Range): the reader may skip what lies before it.
  // Returns the body offset the first read() starts at, at most `offset`;
  // the caller drops the bytes before `offset` itself. A reader that cannot
  // skip starts at 0, the default.
  virtual std::uint64_t start_at(std::uint64_t /*offset*/) { return 0; }
  // The whole body as a region of a file that stays open while the reader
  // lives, for a sink that sends files (http::ResponseSink::write_file);
  // nullopt when the body is not one (small memory objects, compressed or
  // remote bodies). read() works either way.
  virtual std::optional<http::FileRegion> file() const noexcept { return std::nullopt; }
};

class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Fails with Errc::object_too_large past the object limit (size-limited
  // store) or past what the backend can ever hold; the writer is then
  // unusable and should be dropped.
  virtual boost::asio::awaitable<Result<void>> write(std::span<const char> chunk) = 0;
  virtual boost::asio::awaitable<Result<void>> commit() = 0;
  // A descriptor of a file that holds every byte written so far, as
  // written and at its offset in the body, while this writer lives; -1 when
  // there is none (bytes held elsewhere, transformed, or not in a file yet).
  // A fill's followers then read the body from it instead of from a spool
  // copy of their own (proxy/spool.hpp).
  virtual int body_fd() const noexcept { return -1; }
};

struct Hit {
  EntryMeta meta;
  std::unique_ptr<BodyReader> body;
};

struct Stats {
  std::uint64_t entries = 0;
  std::uint64_t size_bytes = 0;
  std::uint64_t evictions = 0;            // since start: removed to make room
  std::uint64_t expirations = 0;          // since start: removed because keep_for passed
  std::uint64_t integrity_failures = 0;   // since start: bodies that failed their hash
  std::uint64_t raw_bytes = 0;            // bodies as the origin sent them (compression)
  std::uint64_t compressed_bytes = 0;     // the same bodies as stored (compression)
};

class Storage {
 public:
  virtual ~Storage() = default;
  virtual boost::asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) = 0;
  virtual boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key,
                                                                          EntryMeta meta) = 0;
  virtual boost::asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) = 0;
  virtual boost::asio::awaitable<Result<bool>> remove(const CacheKey& key) = 0;
  // An entry a writer is still writing, possibly in another relay instance
  // sharing this backend: meta as the writer put it (body_size 0: unknown
  // yet), and a reader that yields chunks as the writer stores them, ends
  // when it commits, and fails if it gives up or dies. Only a backend shared
  // between instances (Redis) has anything to offer here: the others answer
  // nullopt, as their in-flight fills are followed in-process (proxy/key_session.hpp).
  virtual boost::asio::awaitable<Result<std::optional<Hit>>> get_in_progress(const CacheKey& key);
  // Removes (hard) or marks stale (soft) every entry the selector matches
  // and answers how many response entries it affected. The contract every
  // backend keeps:
  // - An entry matches by its key's primary (CacheKey::primary: a Vary
  //   variant has its URL's) and its InternalMeta::tags, through
  //   PurgeSelector::matches alone; so a URL purge reaches every variant
  //   and keyed-header form of the URL.
  // - The count is of response entries: Vary indexes are not counted, Vary
  //   variants are; an entry already stale before request.at counts too.
  // - hard: matched entries go, a matched URL's Vary index with them.
  // - soft: bodies stay; a response gets stale_at = request.at unless it
  //   has an earlier one; Vary indexes and keep_for are left alone.
  // - Entries stored while the purge runs are judged as the walk finds them.
  // - Large stores are walked in slices, yielding to the event loop (and
  //   releasing any lock) between them: a purge of a million entries never
  //   blocks a loop. Tag purges use a tag index, not a walk.
  // - A backend shared between instances (Redis) does nothing for
  //   PurgeScope::this_instance and answers 0.
  // - A backend that cannot be reached answers storage_unavailable within
  //   its command timeout; entries already handled stay handled.
  virtual boost::asio::awaitable<Result<std::uint64_t>> purge(const PurgeRequest& request) = 0;
  virtual Stats stats() const = 0;
  // "memory", "disk", "redis", ...: the metric label.
  virtual std::string_view backend_name() const noexcept = 0;
};

inline boost::asio::awaitable<Result<std::optional<Hit>>> Storage::get_in_progress(const CacheKey&) {
  co_return std::optional<Hit>{};
}

}  // namespace relay::storage
