// Memory backend: an LRU list plus a hash index under one mutex. Bodies are
// kept as immutable chunks of up to 64 KiB so a hit streams without copying
// the whole object, and a small object is a single chunk.
#include "relay/storage/memory_lru.hpp"

namespace relay::storage {
namespace {

constexpr std::size_t block_size = 64 * 1024;

class MemoryReader final : public BodyReader {
 public:
  explicit MemoryReader(std::shared_ptr<const MemoryObject> object) : object_(std::move(object)) {}

  boost::asio::awaitable<Result<std::span<const char>>> read() override {
    if (next_ >= object_->chunks.size()) co_return std::span<const char>{};
    const auto& chunk = object_->chunks[next_++];
    co_return std::span<const char>(chunk.data(), chunk.size());
  }

 private:
  std::shared_ptr<const MemoryObject> object_;
  std::size_t next_ = 0;
};

class MemoryWriter final : public BodyWriter {
 public:
  MemoryWriter(MemoryLru& store, std::string key, EntryMeta meta)
      : store_(store), key_(std::move(key)), object_(std::make_shared<MemoryObject>()) {
    object_->meta = std::move(meta);
  }

  boost::asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    auto limit = store_.max_object_size();
    if (failed_ || (limit != 0 && size_ + chunk.size() > limit)) {
      failed_ = true;
      co_return make_error_code(Errc::object_too_large);
    }
    size_ += chunk.size();
    while (!chunk.empty()) {
      auto& chunks = object_->chunks;
      if (chunks.empty() || chunks.back().size() >= block_size) {
        chunks.emplace_back();
        chunks.back().reserve(std::min(block_size, std::max(chunk.size(), std::size_t{4096})));
      }
      auto& last = chunks.back();
      auto take = std::min(chunk.size(), block_size - last.size());
      last.append(chunk.data(), take);
      chunk = chunk.subspan(take);
    }
    co_return Result<void>{};
  }

  boost::asio::awaitable<Result<void>> commit() override {
    if (failed_) co_return make_error_code(Errc::object_too_large);
    for (auto& c : object_->chunks) c.shrink_to_fit();
    object_->meta.body_size = size_;
    object_->charge = meta_charge(key_, object_->meta) + size_;
    if (!store_.insert(key_, std::move(object_))) co_return make_error_code(Errc::object_too_large);
    co_return Result<void>{};
  }

 private:
  MemoryLru& store_;
  std::string key_;
  std::shared_ptr<MemoryObject> object_;
  std::uint64_t size_ = 0;
  bool failed_ = false;
};

}  // namespace

std::uint64_t meta_charge(const std::string& key, const EntryMeta& meta) {
  std::uint64_t bytes = MemoryLru::entry_overhead + key.size() + meta.reason.size();
  for (const auto& f : meta.headers) bytes += f.name.size() + f.value.size() + 2 * sizeof(std::string);
  return bytes;
}

MemoryLru::MemoryLru(std::uint64_t max_size, std::uint64_t max_object_size)
    : max_size_(max_size), max_object_size_(max_object_size) {}

std::shared_ptr<const MemoryObject> MemoryLru::find(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->object;
}

bool MemoryLru::insert(const std::string& key, std::shared_ptr<MemoryObject> object) {
  std::lock_guard lock(mutex_);
  if (auto old = index_.find(key); old != index_.end()) erase_locked(old->second);
  // An object that can never fit would only flush the whole cache.
  if (object->charge > max_size_) return false;
  while (size_ + object->charge > max_size_ && !lru_.empty()) {
    erase_locked(std::prev(lru_.end()));
    ++evictions_;
  }
  size_ += object->charge;
  lru_.push_front(Node{key, std::move(object)});
  index_.emplace(key, lru_.begin());
  return true;
}

void MemoryLru::erase_locked(std::list<Node>::iterator it) {
  size_ -= it->object->charge;
  index_.erase(it->key);
  lru_.erase(it);
}

boost::asio::awaitable<Result<std::optional<Hit>>> MemoryLru::get(const std::string& key) {
  auto object = find(key);
  if (!object) co_return std::optional<Hit>{};
  Hit hit{object->meta, std::make_unique<MemoryReader>(object)};
  co_return std::optional<Hit>{std::move(hit)};
}

boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> MemoryLru::put(const std::string& key,
                                                                          EntryMeta meta) {
  co_return std::unique_ptr<BodyWriter>(std::make_unique<MemoryWriter>(*this, key, std::move(meta)));
}

boost::asio::awaitable<Result<void>> MemoryLru::update_meta(const std::string& key, EntryMeta meta) {
  auto current = find(key);
  if (!current) co_return Result<void>{};
  // Objects are immutable once published: swap in a copy with the new head.
  auto updated = std::make_shared<MemoryObject>(*current);
  meta.body_size = current->meta.body_size;
  updated->meta = std::move(meta);
  updated->charge = meta_charge(key, updated->meta) + updated->meta.body_size;
  insert(key, std::move(updated));
  co_return Result<void>{};
}

boost::asio::awaitable<Result<bool>> MemoryLru::remove(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) co_return false;
  erase_locked(it->second);
  co_return true;
}

Stats MemoryLru::stats() const {
  std::lock_guard lock(mutex_);
  return Stats{index_.size(), size_, evictions_};
}

}  // namespace relay::storage
