// Per-thread free lists of small blocks, for objects made and dropped on
// every request: coroutine frames (pooled_frame.hpp) and the few small
// heap objects a hit needs (PooledAllocation). malloc would do, but the
// request path is held to no heap allocation per hit in the steady state.
#pragma once

#include <cstddef>

namespace relay::util {

namespace block_pool {
// Blocks of up to kLargest bytes come from the calling thread's free lists;
// larger ones straight from operator new. A block may be freed on another
// thread than the one that took it.
inline constexpr std::size_t kLargest = 8192;
void* allocate(std::size_t size);
void deallocate(void* block, std::size_t size) noexcept;
}  // namespace block_pool

// A base whose class-specific operator new/delete use block_pool. Deleting
// through a base pointer finds the most derived class's operator delete
// (with its size) as long as the destructor is virtual.
struct PooledAllocation {
  static void* operator new(std::size_t size) { return block_pool::allocate(size); }
  static void operator delete(void* block, std::size_t size) noexcept { block_pool::deallocate(block, size); }
};

// The same for standard containers and std::allocate_shared: per-request
// nodes and shared objects (an HTTP/2 stream and its map entries).
template <typename T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(block_pool::allocate(n * sizeof(T))); }
  void deallocate(T* block, std::size_t n) noexcept { block_pool::deallocate(block, n * sizeof(T)); }
  template <typename U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace relay::util
