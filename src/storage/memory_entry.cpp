// MemoryEntry (memory_entry.hpp): making one, and its reference count.
#include "memory_entry.hpp"

#include <algorithm>
#include <new>
#include <string>

namespace relay::storage {

boost::intrusive_ptr<MemoryEntry> MemoryEntry::make(std::string_view key, const EntryMeta& meta,
                                                    std::span<const char> small_body,
                                                    std::shared_ptr<const MemoryBody> large_body) {
  std::string packed;
  pack_meta(meta, packed);
  const std::size_t large_size = large_body ? sizeof(LargeBody) : 0;
  void* raw = ::operator new(sizeof(MemoryEntry) + large_size + key.size() + packed.size() + small_body.size());
  auto* entry = new (raw) MemoryEntry(meta);
  if (large_body) {
    entry->large_ = true;
    new (entry + 1) LargeBody(std::move(large_body));
  }
  entry->key_size_ = static_cast<std::uint32_t>(key.size());
  entry->meta_size_ = static_cast<std::uint32_t>(packed.size());
  entry->small_size_ = static_cast<std::uint32_t>(small_body.size());
  char* out = entry->bytes();
  std::copy(key.begin(), key.end(), out);
  std::copy(packed.begin(), packed.end(), out + key.size());
  std::copy(small_body.begin(), small_body.end(), out + key.size() + packed.size());
  return boost::intrusive_ptr<MemoryEntry>(entry);
}

void intrusive_ptr_add_ref(const MemoryEntry* entry) noexcept {
  entry->refs_.fetch_add(1, std::memory_order_relaxed);
}

void intrusive_ptr_release(const MemoryEntry* entry) noexcept {
  if (entry->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  auto* mutable_entry = const_cast<MemoryEntry*>(entry);
  mutable_entry->~MemoryEntry();
  ::operator delete(static_cast<void*>(mutable_entry));
}

}  // namespace relay::storage
