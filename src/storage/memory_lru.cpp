// Memory backend: use-count buckets of recency lists plus an ordered key
// index, one set per shard under the shard's lock (see memory_lru.hpp for
// the three policies and the shards). The lists and the index are
// intrusive (hooks in each MemoryEntry, memory_entry.hpp), so an entry
// costs no node besides itself.
#include "relay/storage/memory_lru.hpp"

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/set.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "memory_entry.hpp"
#include "purge_walk.hpp"
#include "relay/storage/packed_meta.hpp"
#include "relay/util/block_pool.hpp"

namespace relay::storage {

namespace bi = boost::intrusive;

namespace {

struct KeyOf {
  using type = std::string_view;
  type operator()(const MemoryEntry& entry) const noexcept { return entry.key(); }
};
using Index = bi::set<MemoryEntry, bi::member_hook<MemoryEntry, decltype(MemoryEntry::index_hook), &MemoryEntry::index_hook>,
                      bi::key_of_value<KeyOf>, bi::constant_time_size<true>>;
// Entries of one use count, most recent first. lru and fifo keep everything
// in bucket 1, so one list serves all three policies and the victim is
// always the back of the lowest bucket.
using Bucket = bi::list<MemoryEntry, bi::member_hook<MemoryEntry, decltype(MemoryEntry::order_hook), &MemoryEntry::order_hook>,
                        bi::constant_time_size<false>>;

class MemoryReader final : public BodyReader, public util::PooledAllocation {
 public:
  explicit MemoryReader(boost::intrusive_ptr<const MemoryEntry> entry) : entry_(std::move(entry)) {}

  boost::asio::awaitable<Result<std::span<const char>>> read() override {
    if (const auto* body = entry_->large_body()) {
      if (next_ >= body->slices()) co_return std::span<const char>{};
      co_return body->slice(next_++);
    }
    if (next_++ > 0) co_return std::span<const char>{};
    co_return entry_->small_body();
  }

  // Every slice of a large body but the last is block_size long; a small
  // body is one slice.
  std::uint64_t start_at(std::uint64_t offset) override {
    const auto* body = entry_->large_body();
    if (!body) return 0;
    next_ = static_cast<std::size_t>(std::min<std::uint64_t>(offset / MemoryBody::block_size, body->slices()));
    return static_cast<std::uint64_t>(next_) * MemoryBody::block_size;
  }

  std::optional<http::FileRegion> file() const noexcept override {
    const auto* body = entry_->large_body();
    return body ? body->file() : std::nullopt;
  }

 private:
  boost::intrusive_ptr<const MemoryEntry> entry_;
  std::size_t next_ = 0;
};

class MemoryWriter final : public BodyWriter {
 public:
  MemoryWriter(MemoryLru& store, std::string key, EntryMeta meta)
      : store_(store), key_(std::move(key)), meta_(std::move(meta)) {}

  boost::asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    if (failed_) co_return make_error_code(Errc::object_too_large);
    auto appended = body_.append(chunk);
    if (!appended) failed_ = true;
    co_return appended;
  }

  boost::asio::awaitable<Result<void>> commit() override {
    if (failed_) co_return make_error_code(Errc::object_too_large);
    failed_ = true;  // a writer publishes once
    meta_.body_size = body_.size();
    boost::intrusive_ptr<MemoryEntry> entry;
    if (auto small = body_.small_bytes()) {
      entry = MemoryEntry::make(key_, meta_, *small, nullptr);
    } else {
      auto body = body_.finish();
      if (!body) co_return body.error();
      entry = MemoryEntry::make(key_, meta_, {}, std::move(*body));
    }
    if (!store_.insert(std::move(entry))) co_return make_error_code(Errc::object_too_large);
    co_return Result<void>{};
  }

  int body_fd() const noexcept override { return failed_ ? -1 : body_.fd(); }

 private:
  MemoryLru& store_;
  std::string key_;
  EntryMeta meta_;
  MemoryBodyBuilder body_;
  bool failed_ = false;
};

}  // namespace

// One slice of the store: its own lock, lists, key index and tag index.
// Aligned so two shards' locks never share a cache line.
struct alignas(64) MemoryLru::Shard {
  std::mutex mutex;
  std::map<std::uint32_t, Bucket> buckets;  // use count -> entries; no empty buckets kept
  // Ordered for purges (see memory_lru.hpp); a lookup costs a few string compares more.
  Index index;
  std::unordered_map<std::string, std::set<std::string, std::less<>>> tags;  // tag -> keys carrying it
  std::atomic<std::uint64_t> bytes{0};  // charged here; written under the lock, read without it
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;

  ~Shard() {
    index.clear();
    for (auto& [uses, bucket] : buckets) bucket.clear_and_dispose([](MemoryEntry* e) { intrusive_ptr_release(e); });
  }
};

Eviction parse_eviction(std::string_view name) {
  if (name == "lru") return Eviction::lru;
  if (name == "lfu") return Eviction::lfu;
  if (name == "fifo") return Eviction::fifo;
  throw std::invalid_argument("unknown eviction policy '" + std::string(name) + "' (lru, lfu or fifo)");
}

std::string_view to_string(Eviction eviction) noexcept {
  switch (eviction) {
    case Eviction::lfu: return "lfu";
    case Eviction::fifo: return "fifo";
    case Eviction::lru: break;
  }
  return "lru";
}

std::uint64_t MemoryLru::charge_of(std::string_view key, const EntryMeta& meta, std::uint64_t body_size) {
  EntryMeta sized = meta;
  sized.body_size = body_size;
  std::string packed;
  pack_meta(sized, packed);
  const std::uint64_t base = sizeof(MemoryEntry) + MemoryEntry::allocator_overhead + key.size() + packed.size();
  if (body_size < MemoryBody::file_threshold) return base + body_size;
  constexpr std::uint64_t page = 4096;  // a memfd body is charged in whole pages
  return base + sizeof(std::shared_ptr<const MemoryBody>) + (body_size + page - 1) / page * page;
}

namespace {

std::size_t power_of_two_at_least(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

MemoryLru::MemoryLru(std::uint64_t max_size, Eviction eviction, Clock clock, std::size_t shards)
    : max_size_(max_size),
      eviction_(eviction),
      clock_(std::move(clock)),
      shard_count_(power_of_two_at_least(std::max<std::size_t>(1, shards))),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

MemoryLru::~MemoryLru() = default;

MemoryLru::Shard& MemoryLru::shard_of(std::string_view key) const noexcept {
  if (shard_count_ == 1) return shards_[0];
  return shards_[std::hash<std::string_view>{}(key) & (shard_count_ - 1)];
}

MemoryEntry* MemoryLru::find_locked(Shard& shard, std::string_view key) {
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return nullptr;
  if (it->expired(clock_())) {
    erase_locked(shard, *it);
    ++shard.expirations;
    return nullptr;
  }
  touch_locked(shard, *it);
  return &*it;
}

std::optional<EntryMeta> MemoryLru::find(const CacheKey& key) {
  std::string scratch;
  const auto flat = key.flat_view(scratch);
  boost::intrusive_ptr<const MemoryEntry> entry;
  {
    auto& shard = shard_of(flat);
    std::lock_guard lock(shard.mutex);
    entry = find_locked(shard, flat);
  }
  if (!entry) return std::nullopt;
  return entry->meta();
}

bool MemoryLru::insert(boost::intrusive_ptr<MemoryEntry> entry) {
  auto& shard = shard_of(entry->key());
  {
    std::lock_guard lock(shard.mutex);
    std::uint32_t uses = 1;
    if (auto old = shard.index.find(entry->key()); old != shard.index.end()) {
      // A new version of a popular key stays popular: refreshing an entry must
      // not make it the first lfu victim.
      if (eviction_ == Eviction::lfu) uses = old->uses;
      erase_locked(shard, *old);
    }
    // An entry that can never fit would only flush the whole cache.
    if (entry->charge() > max_size_) return false;
    // Room is made here first, before the entry is linked (it is never its
    // own victim), as long as this shard holds its share of the store.
    const auto charge = entry->charge();
    while (size_.load(std::memory_order_relaxed) + charge > max_size_ && !shard.index.empty() &&
           shard.bytes.load(std::memory_order_relaxed) * shard_count_ >= size_.load(std::memory_order_relaxed)) {
      evict_one_locked(shard);
    }
    link_locked(shard, std::move(entry), uses);
  }
  // Not this shard again: what it has left is its share, the new entry
  // first, which must not go the moment it came.
  evict_while_over(&shard);
  return true;
}

bool MemoryLru::insert(std::string_view key, EntryMeta meta, std::string_view body) {
  meta.body_size = body.size();
  return insert(MemoryEntry::make(key, meta, body, nullptr));
}

void MemoryLru::evict_while_over(const Shard* spared) {
  // The fullest shard gives way, so shards stay even and each one's
  // victims are its policy's. The sizes are read without locks: a shard
  // found empty once locked is only looked at again.
  while (size_.load(std::memory_order_relaxed) > max_size_) {
    Shard* fullest = nullptr;
    std::uint64_t most = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      if (&shards_[i] == spared) continue;
      const auto bytes = shards_[i].bytes.load(std::memory_order_relaxed);
      if (bytes > most) {
        most = bytes;
        fullest = &shards_[i];
      }
    }
    if (!fullest) return;
    std::lock_guard lock(fullest->mutex);
    if (!fullest->index.empty()) evict_one_locked(*fullest);
  }
}

void MemoryLru::link_locked(Shard& shard, boost::intrusive_ptr<MemoryEntry> entry, std::uint32_t uses) {
  auto& e = *entry.detach();  // the store's reference, released by erase_locked
  e.uses = uses;
  charge_locked(shard, static_cast<std::int64_t>(e.charge()));
  index_tags_locked(shard, e);
  shard.buckets[uses].push_front(e);
  shard.index.insert_unique(e);
}

void MemoryLru::replace_locked(Shard& shard, MemoryEntry& old, boost::intrusive_ptr<MemoryEntry> replacement) {
  auto& e = *replacement.detach();
  e.uses = old.uses;
  charge_locked(shard, static_cast<std::int64_t>(e.charge()) - static_cast<std::int64_t>(old.charge()));
  unindex_tags_locked(shard, old);
  index_tags_locked(shard, e);
  shard.index.replace_node(shard.index.iterator_to(old), e);
  auto& bucket = shard.buckets.find(old.uses)->second;
  bucket.insert(bucket.iterator_to(old), e);
  bucket.erase(bucket.iterator_to(old));
  intrusive_ptr_release(&old);
}

void MemoryLru::touch_locked(Shard& shard, MemoryEntry& entry) {
  switch (eviction_) {
    case Eviction::fifo:
      return;
    case Eviction::lru: {
      auto& bucket = shard.buckets.find(entry.uses)->second;
      bucket.splice(bucket.begin(), bucket, bucket.iterator_to(entry));
      return;
    }
    case Eviction::lfu: {
      auto from = shard.buckets.find(entry.uses);
      if (entry.uses == std::numeric_limits<std::uint32_t>::max()) return;  // as used as can be
      auto& to = shard.buckets[entry.uses + 1];
      to.splice(to.begin(), from->second, from->second.iterator_to(entry));
      ++entry.uses;
      if (from->second.empty()) shard.buckets.erase(from);
      return;
    }
  }
}

void MemoryLru::index_tags_locked(Shard& shard, const MemoryEntry& entry) {
  if (!entry.tagged()) return;
  for (const auto& tag : entry.meta().internal.tags) shard.tags[tag].emplace(entry.key());
}

void MemoryLru::unindex_tags_locked(Shard& shard, const MemoryEntry& entry) {
  if (!entry.tagged()) return;
  for (const auto& tag : entry.meta().internal.tags) {
    auto it = shard.tags.find(tag);
    if (it == shard.tags.end()) continue;
    if (auto member = it->second.find(entry.key()); member != it->second.end()) it->second.erase(member);
    if (it->second.empty()) shard.tags.erase(it);
  }
}

void MemoryLru::charge_locked(Shard& shard, std::int64_t delta) noexcept {
  shard.bytes.store(shard.bytes.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(delta),
                    std::memory_order_relaxed);
  size_.fetch_add(static_cast<std::uint64_t>(delta), std::memory_order_relaxed);
}

void MemoryLru::erase_locked(Shard& shard, MemoryEntry& entry) {
  charge_locked(shard, -static_cast<std::int64_t>(entry.charge()));
  unindex_tags_locked(shard, entry);
  shard.index.erase(shard.index.iterator_to(entry));
  auto bucket = shard.buckets.find(entry.uses);
  bucket->second.erase(bucket->second.iterator_to(entry));
  if (bucket->second.empty()) shard.buckets.erase(bucket);
  intrusive_ptr_release(&entry);
}

void MemoryLru::evict_one_locked(Shard& shard) {
  // Lowest use count first; within it, the least recently used (the back).
  erase_locked(shard, shard.buckets.begin()->second.back());
  ++shard.evictions;
}

boost::asio::awaitable<Result<std::optional<Hit>>> MemoryLru::get(const CacheKey& key) {
  boost::intrusive_ptr<const MemoryEntry> entry;
  {
    // Per thread, for its buffer (a variant's key is long); used up before
    // this coroutine can be suspended.
    thread_local std::string scratch;
    const auto flat = key.flat_view(scratch);
    auto& shard = shard_of(flat);
    std::lock_guard lock(shard.mutex);
    entry = find_locked(shard, flat);
  }
  if (!entry) co_return std::optional<Hit>{};
  // Unpacked outside the lock: other threads' hits need not wait for it.
  Hit hit{entry->meta(), std::make_unique<MemoryReader>(std::move(entry))};
  co_return std::optional<Hit>{std::move(hit)};
}

boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> MemoryLru::put(const CacheKey& key, EntryMeta meta) {
  co_return std::unique_ptr<BodyWriter>(std::make_unique<MemoryWriter>(*this, key.flat(), std::move(meta)));
}

boost::asio::awaitable<Result<void>> MemoryLru::update_meta(const CacheKey& key, EntryMeta meta) {
  std::string scratch;
  const auto flat = key.flat_view(scratch);
  auto& shard = shard_of(flat);
  {
    std::lock_guard lock(shard.mutex);
    auto it = shard.index.find(flat);
    if (it == shard.index.end()) co_return Result<void>{};
    // Replaced in place: a revalidation is not a use (the get before it was)
    // and must not move a fifo entry to the front. Entries are immutable once
    // published, so the new one shares (large) or copies (small) the body.
    meta.body_size = it->body_size();
    replace_locked(shard, *it, it->with_meta(meta));
  }
  // A larger head may need room; the entry itself may be the policy's victim.
  evict_while_over();
  co_return Result<void>{};
}

boost::asio::awaitable<Result<bool>> MemoryLru::remove(const CacheKey& key) {
  std::string scratch;
  const auto flat = key.flat_view(scratch);
  auto& shard = shard_of(flat);
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(flat);
  if (it == shard.index.end()) co_return false;
  erase_locked(shard, *it);
  co_return true;
}

std::uint64_t MemoryLru::purge_locked(Shard& shard, MemoryEntry& entry, const PurgeRequest& request) {
  auto meta = entry.meta();
  if (!purge_matches(request, entry.key(), meta)) return 0;
  const auto count = purge_count(meta);
  if (request.mode == PurgeMode::hard) {
    erase_locked(shard, entry);
    return count;
  }
  if (mark_stale(meta, request)) replace_locked(shard, entry, entry.with_meta(meta));
  return count;
}

bool MemoryLru::purge_slice_locked(Shard& shard, const PurgeRequest& request, std::string_view prefix,
                                   std::string& cursor, std::uint64_t& count) {
  auto& index = shard.index;
  auto it = index.lower_bound(std::string_view(cursor));
  for (std::size_t n = 0; n < purge_slice; ++n) {
    if (it == index.end() || !it->key().starts_with(prefix)) return false;
    auto& entry = *it++;  // purge_locked may erase or replace it
    count += purge_locked(shard, entry, request);
  }
  if (it == index.end() || !it->key().starts_with(prefix)) return false;
  cursor = it->key();
  return true;
}

bool MemoryLru::purge_tag_slice_locked(Shard& shard, const PurgeRequest& request, std::string& cursor,
                                       std::uint64_t& count) {
  auto tagged = shard.tags.find(request.selector.value);
  if (tagged == shard.tags.end()) return false;
  // Copied first: a hard purge shrinks (or drops) the very set walked.
  std::vector<std::string> keys;
  auto& set = tagged->second;
  for (auto it = set.lower_bound(cursor); it != set.end() && keys.size() <= purge_slice; ++it) keys.push_back(*it);
  const bool more = keys.size() > purge_slice;
  if (more) {
    cursor = std::move(keys.back());
    keys.pop_back();
  }
  for (const auto& key : keys) {
    if (auto it = shard.index.find(std::string_view(key)); it != shard.index.end()) {
      count += purge_locked(shard, *it, request);
    }
  }
  return more;
}

boost::asio::awaitable<Result<std::uint64_t>> MemoryLru::purge(const PurgeRequest& request) {
  const bool by_tag = request.selector.kind == PurgeSelector::Kind::tag;
  const std::string prefix(walk_prefix(request.selector));
  std::uint64_t count = 0;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    auto& shard = shards_[s];
    std::string cursor = by_tag ? std::string() : prefix;
    for (;;) {
      bool more = false;
      {
        std::lock_guard lock(shard.mutex);
        more = by_tag ? purge_tag_slice_locked(shard, request, cursor, count)
                      : purge_slice_locked(shard, request, prefix, cursor, count);
      }
      if (!more) break;
      co_await yield_to_loop();  // the lock is free meanwhile
    }
  }
  co_return count;
}

std::size_t MemoryLru::tag_index_size() const {
  std::size_t pairs = 0;
  for (std::size_t s = 0; s < shard_count_; ++s) {
    std::lock_guard lock(shards_[s].mutex);
    for (const auto& [tag, keys] : shards_[s].tags) pairs += keys.size();
  }
  return pairs;
}

Stats MemoryLru::stats() const {
  Stats s;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    s.entries += shards_[i].index.size();
    s.evictions += shards_[i].evictions;
    s.expirations += shards_[i].expirations;
  }
  s.size_bytes = size_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace relay::storage
