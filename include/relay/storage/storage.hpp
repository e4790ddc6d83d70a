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

#include "relay/http/body.hpp"
#include "relay/http/headers.hpp"
#include "relay/util/result.hpp"
#include "relay/util/time.hpp"

namespace relay::storage {

using SysTime = std::chrono::system_clock::time_point;

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
};

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
};

class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Fails with Errc::object_too_large past the backend's object limit; the
  // writer is then unusable and should be dropped.
  virtual boost::asio::awaitable<Result<void>> write(std::span<const char> chunk) = 0;
  virtual boost::asio::awaitable<Result<void>> commit() = 0;
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
  virtual boost::asio::awaitable<Result<std::optional<Hit>>> get(const std::string& key) = 0;
  virtual boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const std::string& key,
                                                                          EntryMeta meta) = 0;
  virtual boost::asio::awaitable<Result<void>> update_meta(const std::string& key, EntryMeta meta) = 0;
  virtual boost::asio::awaitable<Result<bool>> remove(const std::string& key) = 0;
  // An entry a writer is still writing, possibly in another relay instance
  // sharing this backend: meta as the writer put it (body_size 0: unknown
  // yet), and a reader that yields chunks as the writer stores them, ends
  // when it commits, and fails if it gives up or dies. Only a backend shared
  // between instances (Redis) has anything to offer here: the others answer
  // nullopt, as their in-flight fills are followed in-process (proxy/key_session.hpp).
  virtual boost::asio::awaitable<Result<std::optional<Hit>>> get_in_progress(const std::string& key);
  virtual Stats stats() const = 0;
  // "memory", "disk", "redis", ...: the metric label.
  virtual std::string_view backend_name() const noexcept = 0;
};

inline boost::asio::awaitable<Result<std::optional<Hit>>> Storage::get_in_progress(const std::string&) {
  co_return std::optional<Hit>{};
}

}  // namespace relay::storage
