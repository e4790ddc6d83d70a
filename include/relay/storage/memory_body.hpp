// A memory object's body. Small bodies are heap chunks. Past file_threshold
// the bytes go into a sealed memfd mapped read-only instead, so a hit on a
// plain HTTP/1.1 connection is sent by sendfile(2) straight from the
// kernel's pages, where a heap body costs a copy into the socket per hit
// (what nginx gets from sendfile on its cache files, without the files).
// Either form is read in slices of block_size, so a reader can start at any
// slice (a Range) and never holds more than one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "relay/http/body.hpp"
#include "relay/util/result.hpp"

namespace relay::storage {

class MemoryBody {
 public:
  static constexpr std::size_t block_size = 64 * 1024;
  // Bodies this large or larger go into a memfd (while the process has file
  // descriptors to spare for them, see MemoryBodyBuilder).
  static constexpr std::uint64_t file_threshold = 32 * 1024;

  explicit MemoryBody(std::vector<std::string> chunks);
  // Takes ownership of a sealed memfd holding `size` bytes; nullptr if it
  // cannot be mapped.
  static std::shared_ptr<const MemoryBody> from_file(int fd, std::uint64_t size);
  ~MemoryBody();
  MemoryBody(const MemoryBody&) = delete;
  MemoryBody& operator=(const MemoryBody&) = delete;

  std::uint64_t size() const noexcept { return size_; }
  std::size_t slices() const noexcept;
  std::span<const char> slice(std::size_t index) const noexcept;
  std::optional<http::FileRegion> file() const noexcept;
  // What the body occupies: its bytes, in whole pages for the file form.
  std::uint64_t footprint() const noexcept;

 private:
  MemoryBody(int fd, const char* map, std::uint64_t size) : fd_(fd), map_(map), size_(size) {}

  std::vector<std::string> chunks_;  // heap form
  int fd_ = -1;                      // file form
  const char* map_ = nullptr;
  std::uint64_t size_ = 0;
};

// Collects a body as it is written and decides its form.
class MemoryBodyBuilder {
 public:
  MemoryBodyBuilder() = default;
  ~MemoryBodyBuilder();
  MemoryBodyBuilder(const MemoryBodyBuilder&) = delete;
  MemoryBodyBuilder& operator=(const MemoryBodyBuilder&) = delete;

  // Fails (storage_unavailable) only when the memfd cannot take the bytes:
  // the kernel is out of memory for it.
  Result<void> append(std::span<const char> bytes);
  std::uint64_t size() const noexcept { return size_; }
  // The memfd holding every byte so far from offset 0, once the body has
  // moved to one; -1 while it is on the heap.
  int fd() const noexcept { return fd_; }
  // The bytes so far while the body is small enough to live inside its
  // entry (under file_threshold: one heap chunk at most); nullopt past it.
  std::optional<std::span<const char>> small_bytes() const noexcept {
    if (fd_ >= 0 || size_ >= MemoryBody::file_threshold) return std::nullopt;
    if (chunks_.empty()) return std::span<const char>{};
    return std::span<const char>{chunks_.front().data(), chunks_.front().size()};
  }
  // The finished body; the builder is spent.
  Result<std::shared_ptr<const MemoryBody>> finish();

  // How many file-form bodies may be open at once: a quarter of the
  // process's file descriptor limit, so connections keep the rest.
  static std::uint64_t file_budget() noexcept;
  static std::uint64_t open_files() noexcept;

 private:
  bool move_to_file();
  Result<void> write_file(std::span<const char> bytes);

  std::vector<std::string> chunks_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

}  // namespace relay::storage
