// In-memory storage bounded in bytes with least-recently-used eviction.
// Committed objects are immutable and shared: a reader keeps its object
// alive even if it is evicted or replaced meanwhile.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/storage/storage.hpp"

namespace relay::storage {

struct MemoryObject {
  EntryMeta meta;
  std::vector<std::string> chunks;
  std::uint64_t charge = 0;  // bytes accounted against max_size
};

class MemoryLru final : public Storage {
 public:
  // max_object_size 0 = only bounded by max_size.
  MemoryLru(std::uint64_t max_size, std::uint64_t max_object_size);

  boost::asio::awaitable<Result<std::optional<Hit>>> get(const std::string& key) override;
  boost::asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const std::string& key,
                                                                  EntryMeta meta) override;
  boost::asio::awaitable<Result<void>> update_meta(const std::string& key, EntryMeta meta) override;
  boost::asio::awaitable<Result<bool>> remove(const std::string& key) override;
  Stats stats() const override;
  std::string_view backend_name() const noexcept override { return "memory"; }

  // Synchronous core, shared by the awaitable methods and the unit tests.
  std::shared_ptr<const MemoryObject> find(const std::string& key);
  bool insert(const std::string& key, std::shared_ptr<MemoryObject> object);
  std::uint64_t max_object_size() const noexcept { return max_object_size_; }

  // Bookkeeping bytes charged per entry besides key, headers and body.
  static constexpr std::uint64_t entry_overhead = 256;

 private:
  struct Node {
    std::string key;
    std::shared_ptr<const MemoryObject> object;
  };
  void erase_locked(std::list<Node>::iterator it);

  const std::uint64_t max_size_;
  const std::uint64_t max_object_size_;
  mutable std::mutex mutex_;
  std::list<Node> lru_;  // front = most recently used
  std::unordered_map<std::string, std::list<Node>::iterator> index_;
  std::uint64_t size_ = 0;
  std::uint64_t evictions_ = 0;
};

// Bytes an entry's metadata occupies, for byte-accurate accounting.
std::uint64_t meta_charge(const std::string& key, const EntryMeta& meta);

}  // namespace relay::storage
