// nghttp2's allocations from the event loop thread's block pool: a session
// allocates for every stream (its state, header blocks, frames queued for
// sending), and each of those went to malloc on every HTTP/2 request.
#include "relay/server/h2_memory.hpp"

#include <cstdint>
#include <cstring>
#include <limits>

#include "relay/util/block_pool.hpp"

namespace relay::server {
namespace {

namespace pool = util::block_pool;

// Each block starts with its size (nghttp2 frees without one); 16 bytes
// keep the pointer nghttp2 gets aligned as malloc's.
constexpr std::size_t prefix = 16;

std::size_t& size_of(void* block) noexcept { return *static_cast<std::size_t*>(block); }

void* take(std::size_t size, void*) {
  if (size > std::numeric_limits<std::size_t>::max() - prefix) return nullptr;
  void* block = nullptr;
  try {
    block = pool::allocate(size + prefix);
  } catch (...) {
    return nullptr;  // nghttp2 reports NGHTTP2_ERR_NOMEM
  }
  size_of(block) = size + prefix;
  return static_cast<char*>(block) + prefix;
}

void give(void* ptr, void*) {
  if (ptr == nullptr) return;
  void* block = static_cast<char*>(ptr) - prefix;
  pool::deallocate(block, size_of(block));
}

void* take_zeroed(std::size_t count, std::size_t size, void* user) {
  if (size != 0 && count > std::numeric_limits<std::size_t>::max() / size) return nullptr;
  void* ptr = take(count * size, user);
  if (ptr != nullptr) std::memset(ptr, 0, count * size);
  return ptr;
}

void* retake(void* ptr, std::size_t size, void* user) {
  if (ptr == nullptr) return take(size, user);
  if (size == 0) {
    give(ptr, user);
    return nullptr;
  }
  const std::size_t held = size_of(static_cast<char*>(ptr) - prefix) - prefix;
  if (size <= held) return ptr;
  void* grown = take(size, user);
  if (grown == nullptr) return nullptr;  // ptr stays valid, as realloc's contract says
  std::memcpy(grown, ptr, held);
  give(ptr, user);
  return grown;
}

}  // namespace

nghttp2_mem* pooled_nghttp2_mem() noexcept {
  static nghttp2_mem mem{nullptr, take, give, take_zeroed, retake};
  return &mem;
}

}  // namespace relay::server
