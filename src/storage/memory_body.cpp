// MemoryBody and its builder (memory_body.hpp).
#include "relay/storage/memory_body.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace relay::storage {
namespace {

constexpr std::uint64_t page_size = 4096;

std::atomic<std::uint64_t> files_open{0};

// Reserves one file-form body against the budget; false when it is spent.
bool reserve_file() noexcept {
  if (files_open.fetch_add(1, std::memory_order_relaxed) < MemoryBodyBuilder::file_budget()) return true;
  files_open.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

void release_file(int fd) noexcept {
  ::close(fd);
  files_open.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

std::uint64_t MemoryBodyBuilder::file_budget() noexcept {
  static const std::uint64_t budget = [] {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::uint64_t{16384};
    return static_cast<std::uint64_t>(limit.rlim_cur) / 4;
  }();
  return budget;
}

std::uint64_t MemoryBodyBuilder::open_files() noexcept { return files_open.load(std::memory_order_relaxed); }

MemoryBody::MemoryBody(std::vector<std::string> chunks) : chunks_(std::move(chunks)) {
  for (const auto& c : chunks_) size_ += c.size();
}

std::shared_ptr<const MemoryBody> MemoryBody::from_file(int fd, std::uint64_t size) {
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return nullptr;
  return std::shared_ptr<const MemoryBody>(new MemoryBody(fd, static_cast<const char*>(map), size));
}

MemoryBody::~MemoryBody() {
  if (fd_ < 0) return;
  ::munmap(const_cast<char*>(map_), size_);
  release_file(fd_);
}

std::size_t MemoryBody::slices() const noexcept {
  if (fd_ < 0) return chunks_.size();
  return static_cast<std::size_t>((size_ + block_size - 1) / block_size);
}

std::span<const char> MemoryBody::slice(std::size_t index) const noexcept {
  if (fd_ < 0) return {chunks_[index].data(), chunks_[index].size()};
  const std::uint64_t begin = static_cast<std::uint64_t>(index) * block_size;
  return {map_ + begin, static_cast<std::size_t>(std::min<std::uint64_t>(block_size, size_ - begin))};
}

std::optional<http::FileRegion> MemoryBody::file() const noexcept {
  if (fd_ < 0) return std::nullopt;
  return http::FileRegion{fd_, 0, size_};
}

std::uint64_t MemoryBody::footprint() const noexcept {
  if (fd_ < 0) return size_;
  return (size_ + page_size - 1) / page_size * page_size;
}

MemoryBodyBuilder::~MemoryBodyBuilder() {
  if (fd_ >= 0) release_file(fd_);
}

bool MemoryBodyBuilder::move_to_file() {
  if (!reserve_file()) return false;
  const int fd = ::memfd_create("relay-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    files_open.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  fd_ = fd;
  for (const auto& chunk : chunks_) {
    if (!write_file(chunk)) return false;  // the caller reports it
  }
  chunks_ = {};
  return true;
}

Result<void> MemoryBodyBuilder::write_file(std::span<const char> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error_code(Errc::storage_unavailable);
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return Result<void>{};
}

Result<void> MemoryBodyBuilder::append(std::span<const char> bytes) {
  size_ += bytes.size();
  if (fd_ >= 0) return write_file(bytes);
  // The move is tried once, when the body first reaches the threshold; a
  // body that could not move (budget spent) stays on the heap.
  const bool crossing = size_ >= MemoryBody::file_threshold && size_ - bytes.size() < MemoryBody::file_threshold;
  while (!bytes.empty()) {
    if (chunks_.empty() || chunks_.back().size() >= MemoryBody::block_size) {
      chunks_.emplace_back();
      chunks_.back().reserve(std::min(MemoryBody::block_size, std::max(bytes.size(), std::size_t{4096})));
    }
    auto& last = chunks_.back();
    const auto take = std::min(bytes.size(), MemoryBody::block_size - last.size());
    last.append(bytes.data(), take);
    bytes = bytes.subspan(take);
  }
  if (crossing && !move_to_file() && fd_ >= 0) return make_error_code(Errc::storage_unavailable);
  return Result<void>{};
}

Result<std::shared_ptr<const MemoryBody>> MemoryBodyBuilder::finish() {
  if (fd_ < 0) {
    for (auto& c : chunks_) c.shrink_to_fit();
    return std::make_shared<const MemoryBody>(std::move(chunks_));
  }
  // Sealed: nobody, this process included, can change the bytes a hit sends.
  // F_SEAL_FUTURE_WRITE, not F_SEAL_WRITE: the latter fails (EBUSY) while
  // pages are still referenced by socket buffers, which they are when the
  // fill's client was sent them from this file moments ago (proxy/pump.cpp).
  if (::fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) {
    return make_error_code(Errc::storage_unavailable);
  }
  auto body = MemoryBody::from_file(fd_, size_);
  if (!body) return make_error_code(Errc::storage_unavailable);
  fd_ = -1;  // the body owns it now
  return body;
}

}  // namespace relay::storage
