#include <array>
#include <new>

#include "relay/util/block_pool.hpp"

namespace relay::util::block_pool {
namespace {

// Size classes of 256 bytes; a thread keeps up to kKept free blocks of each,
// so an idle thread holds at most 32 * 16 * 4 KiB on average.
constexpr std::size_t kStep = 256;
constexpr std::size_t kClasses = kLargest / kStep;
constexpr unsigned kKept = 16;

struct FreeBlock {
  FreeBlock* next;
};

// Trivially destructible, so a frame freed while the thread exits (after the
// Drainer ran) still finds it: it then goes straight back to operator delete.
struct ThreadLists {
  std::array<FreeBlock*, kClasses> head{};
  std::array<unsigned, kClasses> kept{};
  bool closed = false;
};
thread_local ThreadLists lists;

struct Drainer {
  // Called for its side effect: the first use of a thread_local with a
  // destructor registers that destructor for the thread's exit.
  void touch() const noexcept {}
  ~Drainer() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (auto* block = lists.head[c]) {
        lists.head[c] = block->next;
        ::operator delete(block, (c + 1) * kStep);
      }
      lists.kept[c] = 0;
    }
    lists.closed = true;
  }
};
thread_local Drainer drainer;

std::size_t class_of(std::size_t size) { return (size - 1) / kStep; }

}  // namespace

void* allocate(std::size_t size) {
  if (size == 0 || size > kLargest) return ::operator new(size);
  const auto c = class_of(size);
  if (auto* block = lists.head[c]) {
    lists.head[c] = block->next;
    --lists.kept[c];
    return block;
  }
  return ::operator new((c + 1) * kStep);
}

void deallocate(void* block, std::size_t size) noexcept {
  if (size == 0 || size > kLargest) return ::operator delete(block, size);
  const auto c = class_of(size);
  if (lists.closed || lists.kept[c] >= kKept) return ::operator delete(block, (c + 1) * kStep);
  // Keeping a block registers the drainer for this thread's exit (a thread
  // may keep blocks it never took: frames finished there).
  drainer.touch();
  lists.head[c] = new (block) FreeBlock{lists.head[c]};
  ++lists.kept[c];
}

}  // namespace relay::util::block_pool
