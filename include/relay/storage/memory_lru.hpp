// In-memory storage bounded in bytes, with the eviction policy chosen at
// construction: lru (default), lfu or fifo. Committed objects are immutable
// and shared: a reader keeps its object alive even if it is evicted or
// replaced meanwhile. Entries whose keep_for has passed are dropped when
// looked up (a miss), not by a background sweep.
//
// Purges: the key index is ordered, so a URL or prefix purge visits only
// the keys that start with it, and any walk can stop after a slice and
// resume from the next key whatever changed meanwhile; a tag index (tag ->
// keys, kept by every insert, replacement, eviction, expiry and removal)
// answers tag purges without a walk.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

struct MemoryObject {
  EntryMeta meta;
  // Shared so update_meta can swap the head without copying the body.
  std::shared_ptr<const MemoryBody> body;
  std::uint64_t charge = 0;  // bytes accounted against max_size
};

class MemoryLru final : public Storage {
 public:
  // Objects are bounded by max_size alone ([cache] max_object_size is the
  // size-limited store's job). clock decides when keep_for has passed.
  explicit MemoryLru(std::uint64_t max_size, Eviction eviction = Eviction::lru, Clock clock = real_clock());

  boost::asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) override;
  boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key, EntryMeta meta) override;
  boost::asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) override;
  boost::asio::awaitable<Result<bool>> remove(const CacheKey& key) override;
  boost::asio::awaitable<Result<std::uint64_t>> purge(const PurgeRequest& request) override;
  Stats stats() const override;
  std::string_view backend_name() const noexcept override { return "memory"; }

  // Synchronous core, shared by the awaitable methods and the unit tests.
  // find() counts as a use (reorders under lru/lfu) and drops expired entries.
  std::shared_ptr<const MemoryObject> find(const CacheKey& key);
  // Publishes object under key (CacheKey::flat()), evicting others to make room; false when the
  // object alone exceeds max_size.
  bool insert(const std::string& key, std::shared_ptr<MemoryObject> object);
  Eviction eviction() const noexcept { return eviction_; }
  // (tag, key) pairs in the tag index: every live entry's tags, nothing more.
  std::size_t tag_index_size() const;

  // Bookkeeping bytes charged per entry besides key, headers and body.
  static constexpr std::uint64_t entry_overhead = 256;

 private:
  struct Node {
    std::string key;
    std::shared_ptr<const MemoryObject> object;
    std::uint64_t uses = 1;  // lfu: the bucket holding the node; others: always 1
  };
  // Nodes grouped by use count, each group ordered most recent first. lru and
  // fifo keep everything in bucket 1, so one list serves all three policies
  // and the victim is always the back of the lowest bucket.
  using Bucket = std::list<Node>;
  using Position = Bucket::iterator;

  void touch_locked(Position it);
  void erase_locked(Position it);
  void evict_one_locked();
  void link_locked(const std::string& key, std::shared_ptr<const MemoryObject> object, std::uint64_t uses);
  void index_tags_locked(const std::string& key, const EntryMeta& meta);
  void unindex_tags_locked(const std::string& key, const EntryMeta& meta);
  // Purges the entry at `it` if the request matches it; its share of the count.
  std::uint64_t purge_locked(Position it, const PurgeRequest& request);
  // One slice of a walk over keys starting with `prefix`, from `cursor` on;
  // false once the walk is done, else cursor is where the next slice starts.
  bool purge_slice_locked(const PurgeRequest& request, std::string_view prefix, std::string& cursor,
                          std::uint64_t& count);
  bool purge_tag_slice_locked(const PurgeRequest& request, std::string& cursor, std::uint64_t& count);

  const std::uint64_t max_size_;
  const Eviction eviction_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, Bucket> buckets_;  // use count -> nodes; no empty buckets kept
  // Ordered for purges (see above); a lookup costs a few string compares more.
  std::map<std::string, Position, std::less<>> index_;
  std::unordered_map<std::string, std::set<std::string, std::less<>>> tags_;  // tag -> keys carrying it
  std::uint64_t size_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t expirations_ = 0;
};

// Bytes an entry's metadata occupies, for byte-accurate accounting.
std::uint64_t meta_charge(const std::string& key, const EntryMeta& meta);

}  // namespace relay::storage
