// One object of the memory store: a single allocation holding the key, the
// packed metadata (packed_meta.hpp) and a body under
// MemoryBody::file_threshold; a larger body is a shared MemoryBody (a memfd,
// or heap chunks when the file budget is spent) whose pointer only such
// entries carry. Immutable once made, except for the store's hooks and use
// count, which only the store touches, under its mutex. Reference counted
// (boost::intrusive_ptr): the store holds one reference while the entry is
// linked, each reader one while it reads.
#pragma once

#include <boost/intrusive/list_hook.hpp>
#include <boost/intrusive/set_hook.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "relay/storage/memory_body.hpp"
#include "relay/storage/memory_lru.hpp"
#include "relay/storage/packed_meta.hpp"

namespace relay::storage {

namespace bi = boost::intrusive;

class MemoryEntry {
 public:
  // A new entry; the body is small_body, or large_body when set.
  static boost::intrusive_ptr<MemoryEntry> make(std::string_view key, const EntryMeta& meta,
                                                std::span<const char> small_body,
                                                std::shared_ptr<const MemoryBody> large_body);
  // The same key and body under new metadata.
  boost::intrusive_ptr<MemoryEntry> with_meta(const EntryMeta& meta) const {
    return make(key(), meta, small_body(), large_ ? *large_slot() : nullptr);
  }

  MemoryEntry(const MemoryEntry&) = delete;
  MemoryEntry& operator=(const MemoryEntry&) = delete;

  std::string_view key() const noexcept { return {bytes(), key_size_}; }
  EntryMeta meta() const { return unpack_meta({bytes() + key_size_, meta_size_}); }
  std::span<const char> small_body() const noexcept { return {bytes() + key_size_ + meta_size_, small_size_}; }
  const MemoryBody* large_body() const noexcept { return large_ ? large_slot()->get() : nullptr; }
  std::uint64_t body_size() const noexcept { return large_ ? large_body()->size() : small_size_; }
  bool expired(SysTime now) const noexcept { return expires_ < now; }
  bool tagged() const noexcept { return tagged_; }
  std::uint64_t charge() const noexcept {
    return sizeof(MemoryEntry) + allocator_overhead + key_size_ + meta_size_ + small_size_ +
           (large_ ? sizeof(LargeBody) + large_body()->footprint() : 0);
  }

  // The allocator's header for each block (glibc: 8 bytes, rounded to 16).
  static constexpr std::uint64_t allocator_overhead = 16;

  // The store's, touched only under its mutex.
  bi::set_member_hook<bi::optimize_size<true>> index_hook;
  bi::list_member_hook<> order_hook;
  std::uint32_t uses = 1;  // lfu: the bucket holding the entry; others: always 1

 private:
  using LargeBody = std::shared_ptr<const MemoryBody>;

  friend void intrusive_ptr_add_ref(const MemoryEntry* entry) noexcept;
  friend void intrusive_ptr_release(const MemoryEntry* entry) noexcept;

  explicit MemoryEntry(const EntryMeta& meta)
      : tagged_(!meta.internal.tags.empty()),
        expires_(meta.keep_for.count() > 0 ? saturating_add(meta.response_time, meta.keep_for) : SysTime::max()) {}
  ~MemoryEntry() {
    if (large_) large_slot()->~LargeBody();
  }

  // Only large bodies pay for the shared pointer, right after the entry.
  LargeBody* large_slot() noexcept { return reinterpret_cast<LargeBody*>(this + 1); }
  const LargeBody* large_slot() const noexcept { return reinterpret_cast<const LargeBody*>(this + 1); }
  char* bytes() noexcept { return reinterpret_cast<char*>(this + 1) + (large_ ? sizeof(LargeBody) : 0); }
  const char* bytes() const noexcept {
    return reinterpret_cast<const char*>(this + 1) + (large_ ? sizeof(LargeBody) : 0);
  }

  mutable std::atomic<std::uint32_t> refs_{0};
  std::uint32_t key_size_ = 0;
  std::uint32_t meta_size_ = 0;
  std::uint32_t small_size_ = 0;
  bool tagged_;
  bool large_ = false;
  SysTime expires_;  // SysTime::max(): kept until evicted
  // Followed by the large body's pointer (if any), the key, the packed
  // metadata and the small body.
};

}  // namespace relay::storage
