// Memory backend: use-count buckets of recency lists plus a hash index under
// one mutex (see memory_lru.hpp for the three policies). Bodies are
// immutable MemoryBody objects (heap chunks, or a memfd past 32 KiB), shared
// by every reader.
#include "relay/storage/memory_lru.hpp"

#include <algorithm>
#include <stdexcept>

#include "purge_walk.hpp"

namespace relay::storage {
namespace {

class MemoryReader final : public BodyReader {
 public:
  explicit MemoryReader(std::shared_ptr<const MemoryObject> object) : object_(std::move(object)) {}

  boost::asio::awaitable<Result<std::span<const char>>> read() override {
    const auto& body = *object_->body;
    if (next_ >= body.slices()) co_return std::span<const char>{};
    co_return body.slice(next_++);
  }

  // Every slice but the last is block_size long.
  std::uint64_t start_at(std::uint64_t offset) override {
    next_ = static_cast<std::size_t>(std::min<std::uint64_t>(offset / MemoryBody::block_size, object_->body->slices()));
    return static_cast<std::uint64_t>(next_) * MemoryBody::block_size;
  }

  std::optional<http::FileRegion> file() const noexcept override { return object_->body->file(); }

 private:
  std::shared_ptr<const MemoryObject> object_;
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
    auto body = body_.finish();
    if (!body) co_return body.error();
    auto object = std::make_shared<MemoryObject>();
    object->meta = std::move(meta_);
    object->meta.body_size = (*body)->size();
    object->charge = meta_charge(key_, object->meta) + (*body)->footprint();
    object->body = std::move(*body);
    if (!store_.insert(key_, std::move(object))) co_return make_error_code(Errc::object_too_large);
    co_return Result<void>{};
  }

 private:
  MemoryLru& store_;
  std::string key_;
  EntryMeta meta_;
  MemoryBodyBuilder body_;
  bool failed_ = false;
};

}  // namespace

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

std::uint64_t meta_charge(const std::string& key, const EntryMeta& meta) {
  std::uint64_t bytes = MemoryLru::entry_overhead + key.size() + meta.reason.size();
  for (const auto& f : meta.headers) bytes += f.name.size() + f.value.size() + 2 * sizeof(std::string);
  for (const auto& tag : meta.internal.tags) bytes += tag.size() + sizeof(std::string);
  return bytes + meta.internal.vary.names.size() + meta.internal.vary.generation.size();
}

MemoryLru::MemoryLru(std::uint64_t max_size, Eviction eviction, Clock clock)
    : max_size_(max_size), eviction_(eviction), clock_(std::move(clock)) {}

std::shared_ptr<const MemoryObject> MemoryLru::find(const CacheKey& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key.flat());
  if (it == index_.end()) return nullptr;
  auto pos = it->second;
  if (expired(pos->object->meta, clock_())) {
    erase_locked(pos);
    ++expirations_;
    return nullptr;
  }
  touch_locked(pos);
  return pos->object;
}

bool MemoryLru::insert(const std::string& key, std::shared_ptr<MemoryObject> object) {
  std::lock_guard lock(mutex_);
  std::uint64_t uses = 1;
  if (auto old = index_.find(key); old != index_.end()) {
    // A new version of a popular key stays popular: refreshing an entry must
    // not make it the first lfu victim.
    if (eviction_ == Eviction::lfu) uses = old->second->uses;
    erase_locked(old->second);
  }
  // An object that can never fit would only flush the whole cache.
  if (object->charge > max_size_) return false;
  while (size_ + object->charge > max_size_ && !index_.empty()) evict_one_locked();
  link_locked(key, std::move(object), uses);
  return true;
}

void MemoryLru::link_locked(const std::string& key, std::shared_ptr<const MemoryObject> object,
                            std::uint64_t uses) {
  size_ += object->charge;
  index_tags_locked(key, object->meta);
  auto& bucket = buckets_[uses];
  bucket.push_front(Node{key, std::move(object), uses});
  index_.emplace(key, bucket.begin());
}

void MemoryLru::touch_locked(Position it) {
  switch (eviction_) {
    case Eviction::fifo:
      return;
    case Eviction::lru: {
      auto& bucket = buckets_.find(it->uses)->second;
      bucket.splice(bucket.begin(), bucket, it);
      return;
    }
    case Eviction::lfu: {
      // splice keeps the iterator (and so the index entry) valid across lists.
      auto from = buckets_.find(it->uses);
      auto& to = buckets_[it->uses + 1];
      to.splice(to.begin(), from->second, it);
      ++it->uses;
      if (from->second.empty()) buckets_.erase(from);
      return;
    }
  }
}

void MemoryLru::index_tags_locked(const std::string& key, const EntryMeta& meta) {
  for (const auto& tag : meta.internal.tags) tags_[tag].insert(key);
}

void MemoryLru::unindex_tags_locked(const std::string& key, const EntryMeta& meta) {
  for (const auto& tag : meta.internal.tags) {
    auto it = tags_.find(tag);
    if (it == tags_.end()) continue;
    it->second.erase(key);
    if (it->second.empty()) tags_.erase(it);
  }
}

void MemoryLru::erase_locked(Position it) {
  size_ -= it->object->charge;
  unindex_tags_locked(it->key, it->object->meta);
  index_.erase(it->key);
  auto bucket = buckets_.find(it->uses);
  bucket->second.erase(it);
  if (bucket->second.empty()) buckets_.erase(bucket);
}

void MemoryLru::evict_one_locked() {
  // Lowest use count first; within it, the least recently used (the back).
  auto& bucket = buckets_.begin()->second;
  erase_locked(std::prev(bucket.end()));
  ++evictions_;
}

boost::asio::awaitable<Result<std::optional<Hit>>> MemoryLru::get(const CacheKey& key) {
  auto object = find(key);
  if (!object) co_return std::optional<Hit>{};
  Hit hit{object->meta, std::make_unique<MemoryReader>(object)};
  co_return std::optional<Hit>{std::move(hit)};
}

boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> MemoryLru::put(const CacheKey& key, EntryMeta meta) {
  co_return std::unique_ptr<BodyWriter>(std::make_unique<MemoryWriter>(*this, key.flat(), std::move(meta)));
}

boost::asio::awaitable<Result<void>> MemoryLru::update_meta(const CacheKey& key, EntryMeta meta) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key.flat());
  if (it == index_.end()) co_return Result<void>{};
  // Replaced in place: a revalidation is not a use (the get before it was)
  // and must not move a fifo entry to the front. Objects are immutable once
  // published, so a new object shares the body with the old one.
  auto pos = it->second;
  auto updated = std::make_shared<MemoryObject>();
  meta.body_size = pos->object->meta.body_size;
  updated->meta = std::move(meta);
  updated->body = pos->object->body;
  updated->charge = meta_charge(pos->key, updated->meta) + updated->body->footprint();
  size_ = size_ - pos->object->charge + updated->charge;
  unindex_tags_locked(pos->key, pos->object->meta);
  index_tags_locked(pos->key, updated->meta);
  pos->object = std::move(updated);
  // A larger head may need room; the entry itself may be the policy's victim.
  while (size_ > max_size_ && !index_.empty()) evict_one_locked();
  co_return Result<void>{};
}

boost::asio::awaitable<Result<bool>> MemoryLru::remove(const CacheKey& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key.flat());
  if (it == index_.end()) co_return false;
  erase_locked(it->second);
  co_return true;
}

std::uint64_t MemoryLru::purge_locked(Position it, const PurgeRequest& request) {
  const auto& meta = it->object->meta;
  if (!purge_matches(request, it->key, meta)) return 0;
  const auto count = purge_count(meta);
  if (request.mode == PurgeMode::hard) {
    erase_locked(it);
    return count;
  }
  if (!needs_stale_mark(meta, request)) return count;
  auto marked = std::make_shared<MemoryObject>(*it->object);  // shares the body
  mark_stale(marked->meta, request);
  it->object = std::move(marked);
  return count;
}

bool MemoryLru::purge_slice_locked(const PurgeRequest& request, std::string_view prefix, std::string& cursor,
                                   std::uint64_t& count) {
  auto it = index_.lower_bound(cursor);
  for (std::size_t n = 0; n < purge_slice; ++n) {
    if (it == index_.end() || !it->first.starts_with(prefix)) return false;
    auto next = std::next(it);  // purge_locked may erase it
    count += purge_locked(it->second, request);
    it = next;
  }
  if (it == index_.end() || !it->first.starts_with(prefix)) return false;
  cursor = it->first;
  return true;
}

bool MemoryLru::purge_tag_slice_locked(const PurgeRequest& request, std::string& cursor, std::uint64_t& count) {
  auto tagged = tags_.find(request.selector.value);
  if (tagged == tags_.end()) return false;
  // Copied first: a hard purge shrinks (or drops) the very set walked.
  std::vector<std::string> keys;
  auto& set = tagged->second;
  for (auto it = set.lower_bound(cursor); it != set.end() && keys.size() <= purge_slice; ++it) keys.push_back(*it);
  const bool more = keys.size() > purge_slice;
  if (more) {
    cursor = std::move(keys.back());
    keys.pop_back();
  }
  for (const auto& key : keys)
    if (auto it = index_.find(key); it != index_.end()) count += purge_locked(it->second, request);
  return more;
}

boost::asio::awaitable<Result<std::uint64_t>> MemoryLru::purge(const PurgeRequest& request) {
  const bool by_tag = request.selector.kind == PurgeSelector::Kind::tag;
  const std::string prefix(walk_prefix(request.selector));
  std::string cursor = by_tag ? std::string() : prefix;
  std::uint64_t count = 0;
  for (;;) {
    bool more = false;
    {
      std::lock_guard lock(mutex_);
      more = by_tag ? purge_tag_slice_locked(request, cursor, count)
                    : purge_slice_locked(request, prefix, cursor, count);
    }
    if (!more) break;
    co_await yield_to_loop();  // the mutex is free meanwhile
  }
  co_return count;
}

std::size_t MemoryLru::tag_index_size() const {
  std::lock_guard lock(mutex_);
  std::size_t pairs = 0;
  for (const auto& [tag, keys] : tags_) pairs += keys.size();
  return pairs;
}

Stats MemoryLru::stats() const {
  std::lock_guard lock(mutex_);
  Stats s;
  s.entries = index_.size();
  s.size_bytes = size_;
  s.evictions = evictions_;
  s.expirations = expirations_;
  return s;
}

}  // namespace relay::storage
