// Private to redis/: the Redis store and what its readers and writer share
// with it (key names, TTLs, the publishing transaction, error reporting).
// The record format is in format.hpp, the connection in connection.hpp.
//
// Visibility: chunks are appended to first (APPEND, writer.cpp); commit()
// then re-arms their TTLs and appends the last bytes and writes the
// metadata in one MULTI/EXEC. Readers reach a body only through committed metadata, so they
// never see half an entry. A writer dropped before commit deletes its chunks
// best-effort; otherwise they expire. The chunks of a replaced or removed
// entry are left to expire, as a reader may still be streaming them (the
// 60 s grace past the metadata TTL is for such readers too). A chunk missing
// mid-read (evicted) fails the read with storage_unavailable.
//
// stats(): counting a shared Redis would cost a SCAN, so entries/size_bytes
// are what this instance committed and whose TTL has not passed yet
// (replacements, removals and other instances are not seen); evictions are 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "endpoint.hpp"
#include "fill_notices.hpp"
#include "format.hpp"
#include "relay/config/config.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage::redis {

template <class T>
using Task = boost::asio::awaitable<Result<T>>;

inline constexpr std::chrono::milliseconds default_ttl = std::chrono::hours(24);
inline constexpr std::chrono::milliseconds max_ttl = std::chrono::hours(24) * 3650;
inline constexpr std::chrono::milliseconds chunk_grace = std::chrono::seconds(60);

error_code unavailable();
// Logs why at debug level; the caller sees only storage_unavailable.
error_code note(const std::string& what, std::string_view why);
// keep_for as a TTL: 0 is one day, and nothing is kept past ten years.
std::chrono::milliseconds ttl_for(std::chrono::seconds keep_for);
// 32 random hex digits (writer.cpp): body ids, the purge bus's instance id.
std::string random_id();
// A duration as a PX/PEXPIRE argument.
std::string ms(std::chrono::milliseconds d);

class RedisStore final : public Storage, public std::enable_shared_from_this<RedisStore> {
 public:
  RedisStore(const config::RedisStorageConfig& cfg, Options options)
      : prefix_(cfg.key_prefix),
        chunk_size_(cfg.chunk_size > 0 ? cfg.chunk_size : 256 * 1024),
        notices_(FillNotices::shared(options, cfg.key_prefix + "fill")),
        pool_(std::move(options)) {}

  Task<std::optional<Hit>> get(const CacheKey& key) override;
  Task<std::unique_ptr<BodyWriter>> put(const CacheKey& key, EntryMeta meta) override;
  Task<void> update_meta(const CacheKey& key, EntryMeta meta) override;
  Task<bool> remove(const CacheKey& key) override;
  // purge.cpp: SCAN MATCH over metadata keys (a tag: SSCAN of its set),
  // each batch read with MGET and every matched entry removed or marked
  // with a compare-and-set script, so an entry replaced meanwhile stays.
  Task<std::uint64_t> purge(const PurgeRequest& request) override;
  Stats stats() const override;
  std::string_view backend_name() const noexcept override { return "redis"; }

  Task<std::optional<Hit>> get_in_progress(const CacheKey& key) override;

  std::string meta_key(const std::string& key) const { return prefix_ + "m:" + key; }
  std::string progress_key(const std::string& key) const { return prefix_ + "f:" + key; }
  std::string tag_key(const std::string& tag) const { return prefix_ + "tag:" + tag; }
  std::string chunk_key(const std::string& id, std::uint64_t n) const {
    return prefix_ + "b:" + id + ":" + std::to_string(n);
  }
  std::uint64_t chunk_size() const { return chunk_size_; }
  FillNotices& notices() const { return *notices_; }

  // One MULTI/EXEC re-arms every chunk's TTL and writes the metadata, so a
  // reader sees the entry whole or not at all. `last_bytes` (the APPENDs of
  // a new body's last bytes) join the transaction; only_if_present (update_meta) keeps an
  // entry that was removed since it was read removed.
  // `withdraw` (a new body's announcement, if it made one) is deleted in the
  // same transaction, so a progress reader sees the fill announced or
  // committed, never neither.
  Task<void> publish(Connection& conn, const std::string& key, const Stored& stored, std::vector<Command> last_bytes,
                     bool only_if_present, Command withdraw = {});

 private:
  std::shared_ptr<Connection> connection_for(const boost::asio::any_io_executor& ex) {
    return pool_.for_executor(ex);
  }
  Task<std::optional<Stored>> load(Connection& conn, const std::string& key);
  // One batch of a purge: the entries under these cache keys.
  Task<void> purge_keys(Connection& conn, const PurgeRequest& request, const std::vector<std::string>& keys,
                        std::uint64_t& count);
  // The SCAN MATCH pattern of metadata keys a url, prefix, glob or all
  // selector can match (a superset: each entry is checked after).
  std::string meta_pattern(const PurgeSelector& selector) const;

  std::string prefix_;
  std::uint64_t chunk_size_;
  std::shared_ptr<FillNotices> notices_;
  ConnectionPool pool_;
  mutable std::mutex stats_mutex_;
  mutable std::map<std::int64_t, std::pair<std::uint64_t, std::uint64_t>>
      live_;  // expiry minute -> entries, bytes
};

// The body readers and writer (reader.cpp, progress_reader.cpp, writer.cpp).
// meta_key: the entry's metadata key, deleted when its chunks are found evicted.
std::unique_ptr<BodyReader> make_reader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn,
                                        Stored stored, std::string meta_key);
std::unique_ptr<BodyReader> make_progress_reader(std::shared_ptr<RedisStore> store,
                                                 std::shared_ptr<Connection> conn, std::string key,
                                                 Stored announced);
std::unique_ptr<BodyWriter> make_writer(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn,
                                        std::string key, EntryMeta meta);

}  // namespace relay::storage::redis
