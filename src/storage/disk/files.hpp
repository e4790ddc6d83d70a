// Private to disk/: where things live under the cache root (Layout) and thin
// POSIX wrappers that report errno as error_code (files.cpp). Blocking and
// Asio-free: disk/store.cpp decides which thread runs them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "relay/util/log.hpp"
#include "relay/util/result.hpp"

namespace relay::storage::disk {

// Where things live under the cache root. Both objects/ and meta/ fan out
// by the first two hex digits so no directory grows past a few thousand
// names for a typical cache.
struct Layout {
  std::filesystem::path root;

  std::filesystem::path tmp() const { return root / "tmp"; }
  std::filesystem::path object_dir(std::string_view hex) const { return root / "objects" / hex.substr(0, 2); }
  std::filesystem::path record_dir(std::string_view hex) const { return root / "meta" / hex.substr(0, 2); }
  std::filesystem::path object_path(std::string_view hex) const { return object_dir(hex) / hex.substr(2); }
  std::filesystem::path record_path(std::string_view hex) const { return record_dir(hex) / hex.substr(2); }
};

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;  // closes the current one

 private:
  int fd_ = -1;
};

struct TmpFile {
  Fd fd;
  std::string path;
};

// A fresh, exclusively created file in dir, named prefix + random suffix.
Result<TmpFile> create_tmp(const std::filesystem::path& dir, std::string_view prefix);
Result<Fd> open_read(const std::filesystem::path& path);
error_code write_all(int fd, std::span<const char> data);
// Fills as much of into as the file allows from offset on; 0 at end of file.
Result<std::size_t> read_some(int fd, std::span<char> into, std::uint64_t offset);
Result<std::uint64_t> file_size(int fd);

// Which file, and which version of it: any write, truncation, rename over
// it or attribute change moves its ctime (which no unprivileged call can
// set back), so an equal stamp means the bytes read under it are unchanged.
struct FileStamp {
  std::uint64_t device = 0, inode = 0, size = 0;
  std::int64_t ctime_sec = 0, ctime_nsec = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};
Result<FileStamp> file_stamp(int fd);
// Whether every page of the file's first `size` bytes is in the page cache
// now, so sending them reads nothing from the disk. false when it cannot
// tell (no cachestat(2) and mincore(2) failing).
bool fully_cached(int fd, std::uint64_t size) noexcept;
// The same through mincore(2) on a read-only mapping, a window at a time
// (bounded memory whatever the size): fully_cached's way on kernels before
// cachestat(2), Linux 6.5.
bool fully_cached_by_mincore(int fd, std::uint64_t size) noexcept;
error_code sync_fd(int fd);
error_code sync_dir(const std::filesystem::path& dir);
error_code rename_file(const std::string& from, const std::filesystem::path& to);
void remove_file(const std::filesystem::path& path) noexcept;
// Sets the file's access and modification times to t.
error_code set_mtime(const std::filesystem::path& path, std::chrono::system_clock::time_point t);
// Writes bytes to a new file in dir and fsyncs it; returns its path.
Result<std::string> write_durable_tmp(const std::filesystem::path& dir, std::string_view prefix,
                                      std::string_view bytes);
// Bytes available to unprivileged writers on the file system holding path.
std::optional<std::uint64_t> free_space(const std::filesystem::path& path) noexcept;

inline error_code unavailable() {
  return make_error_code(Errc::storage_unavailable);
}

// Logs an I/O failure; the caller sees only storage_unavailable.
inline error_code io_failure(std::string_view what, const error_code& ec) {
  log::warn("disk storage: ", what, ": ", ec.message());
  return unavailable();
}

}  // namespace relay::storage::disk
