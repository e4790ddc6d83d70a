// In-memory storage bounded in bytes, with the eviction policy chosen at
// construction: lru (default), lfu or fifo. Committed objects are immutable
// and shared: a reader keeps its object alive even if it is evicted or
// replaced meanwhile. An object is one allocation (key, packed metadata,
// small body) linked into intrusive lists, so what it costs beyond its
// bytes is about a hundred bytes. Entries whose keep_for has passed are dropped when
// looked up (a miss), not by a background sweep.
//
// Purges: the key index is ordered, so a URL or prefix purge visits only
// the keys that start with it, and any walk can stop after a slice and
// resume from the next key whatever changed meanwhile; a tag index (tag ->
// keys, kept by every insert, replacement, eviction, expiry and removal)
// answers tag purges without a walk.
//
// Shards: with several event-loop threads the store is split by key hash
// into shards, each with its own lock, lists and indexes, so hits on
// different threads rarely meet on a lock. max_size stays one global
// budget (an atomic count): an object of any size up to it fits. Room is
// made in the shard the object goes to while it holds its share of the
// store, then in the fullest shards, so the shards stay even and the
// policy (lru, lfu, fifo) is exact within a shard and approximate across
// them, as in Traffic Server's partitioned store and memcached's slabs.
// One shard (the default, and relay's choice with one thread) keeps the
// policy exact.
#pragma once

#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "relay/storage/clock.hpp"
#include "relay/storage/memory_body.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage {

enum class Eviction {
  lru,   // a hit moves the entry to the front; evict the least recently used
  lfu,   // evict the least frequently used; ties go to the least recently used
  fifo,  // evict in insertion order; hits don't reorder
};

// "lru", "lfu" or "fifo"; throws std::invalid_argument for anything else.
Eviction parse_eviction(std::string_view name);
std::string_view to_string(Eviction eviction) noexcept;

// One stored object: key, packed metadata and a small body in a single
// allocation (memory_lru.cpp). Shared by the store and its readers.
class MemoryEntry;
void intrusive_ptr_add_ref(const MemoryEntry* entry) noexcept;
void intrusive_ptr_release(const MemoryEntry* entry) noexcept;

class MemoryLru final : public Storage {
 public:
  // Objects are bounded by max_size alone ([cache] max_object_size is the
  // size-limited store's job). clock decides when keep_for has passed.
  // shards: rounded up to a power of two (see above).
  explicit MemoryLru(std::uint64_t max_size, Eviction eviction = Eviction::lru, Clock clock = real_clock(),
                     std::size_t shards = 1);

  boost::asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) override;
  boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key, EntryMeta meta) override;
  boost::asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) override;
  boost::asio::awaitable<Result<bool>> remove(const CacheKey& key) override;
  boost::asio::awaitable<Result<std::uint64_t>> purge(const PurgeRequest& request) override;
  Stats stats() const override;
  std::string_view backend_name() const noexcept override { return "memory"; }

  ~MemoryLru() override;

  // The metadata of the entry under key, decoded; counts as a use
  // (reorders under lru/lfu) and drops an expired entry. For tests.
  std::optional<EntryMeta> find(const CacheKey& key);
  Eviction eviction() const noexcept { return eviction_; }
  std::size_t shards() const noexcept { return shard_count_; }
  // (tag, key) pairs in the tag index: every live entry's tags, nothing more.
  std::size_t tag_index_size() const;

  // Bytes an entry of this key, metadata and body size is charged against
  // max_size: what it occupies, bookkeeping included (a body past
  // MemoryBody::file_threshold counted in the memfd form it usually takes).
  static std::uint64_t charge_of(std::string_view key, const EntryMeta& meta, std::uint64_t body_size);

  // Publishes an entry (MemoryEntry, memory_lru.cpp), evicting others to
  // make room; false when it alone exceeds max_size.
  bool insert(boost::intrusive_ptr<MemoryEntry> entry);
  // The same for a small body (under MemoryBody::file_threshold) given
  // whole, without a writer: what bulk-loading tests use.
  bool insert(std::string_view key, EntryMeta meta, std::string_view body);

 private:
  struct Shard;

  Shard& shard_of(std::string_view key) const noexcept;
  // The live entry under key, counted as a use; expired ones are dropped.
  MemoryEntry* find_locked(Shard& shard, std::string_view key);
  void touch_locked(Shard& shard, MemoryEntry& entry);
  void erase_locked(Shard& shard, MemoryEntry& entry);
  void evict_one_locked(Shard& shard);
  // While the store is over max_size, evicts from the fullest shard but
  // `spared` (the caller holds no shard's lock).
  void evict_while_over(const Shard* spared = nullptr);
  // Adds delta (negative: a release) to the shard's and the store's bytes.
  void charge_locked(Shard& shard, std::int64_t delta) noexcept;
  void link_locked(Shard& shard, boost::intrusive_ptr<MemoryEntry> entry, std::uint32_t uses);
  // Puts `replacement` where `old` is (same key, same place in the order).
  void replace_locked(Shard& shard, MemoryEntry& old, boost::intrusive_ptr<MemoryEntry> replacement);
  void index_tags_locked(Shard& shard, const MemoryEntry& entry);
  void unindex_tags_locked(Shard& shard, const MemoryEntry& entry);
  // Purges `entry` if the request matches it; its share of the count.
  std::uint64_t purge_locked(Shard& shard, MemoryEntry& entry, const PurgeRequest& request);
  // One slice of a walk over a shard's keys starting with `prefix`, from
  // `cursor` on; false once the walk is done, else cursor is where the
  // next slice starts.
  bool purge_slice_locked(Shard& shard, const PurgeRequest& request, std::string_view prefix, std::string& cursor,
                          std::uint64_t& count);
  bool purge_tag_slice_locked(Shard& shard, const PurgeRequest& request, std::string& cursor, std::uint64_t& count);

  const std::uint64_t max_size_;
  const Eviction eviction_;
  const Clock clock_;
  const std::size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::uint64_t> size_{0};  // bytes charged, all shards
};

}  // namespace relay::storage
