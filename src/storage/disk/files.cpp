// The disk backend's POSIX wrappers (files.hpp): EINTR retried, errno
// turned into error_code, durable temporary files (write, fsync, close).
#include "files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace relay::storage::disk {
namespace fs = std::filesystem;

namespace {

error_code last_error() {
  return error_code(errno, boost::system::system_category());
}

}  // namespace

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<TmpFile> create_tmp(const fs::path& dir, std::string_view prefix) {
  std::string path = (dir / prefix).string() + "XXXXXX";
  int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return last_error();
  return TmpFile{Fd(fd), std::move(path)};
}

Result<Fd> open_read(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return last_error();
  return Fd(fd);
}

error_code write_all(int fd, std::span<const char> data) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::size_t> read_some(int fd, std::span<char> into, std::uint64_t offset) {
  std::size_t got = 0;
  while (got < into.size()) {
    auto n = ::pread(fd, into.data() + got, into.size() - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

Result<std::uint64_t> file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_error();
  return static_cast<std::uint64_t>(st.st_size);
}

Result<FileStamp> file_stamp(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_error();
  return FileStamp{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::uint64_t>(st.st_size), st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
}

namespace {

// cachestat(2), Linux 6.5: page cache counts for a range, without mapping
// the file. Declared here: glibc 2.36 has no wrapper or struct for it.
struct CachestatRange {
  std::uint64_t off, len;
};
struct Cachestat {
  std::uint64_t cache, dirty, writeback, evicted, recently_evicted;
};
constexpr long cachestat_syscall = 451;  // the same number on every architecture

std::atomic<bool> cachestat_missing{false};

}  // namespace

bool fully_cached(int fd, std::uint64_t size) noexcept {
  if (size == 0) return true;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t pages = (size + page - 1) / page;
  if (!cachestat_missing.load(std::memory_order_relaxed)) {
    CachestatRange range{0, size};
    Cachestat counts{};
    if (::syscall(cachestat_syscall, fd, &range, &counts, 0) == 0) return counts.cache >= pages;
    if (errno != ENOSYS) return false;
    cachestat_missing.store(true, std::memory_order_relaxed);
  }
  return fully_cached_by_mincore(fd, size);
}

bool fully_cached_by_mincore(int fd, std::uint64_t size) noexcept {
  if (size == 0) return true;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t pages = (size + page - 1) / page;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return false;
  constexpr std::uint64_t window = 4096;  // pages asked about at once
  unsigned char resident[window];
  bool all = true;
  for (std::uint64_t first = 0; all && first < pages; first += window) {
    const auto count = std::min(window, pages - first);
    all = ::mincore(static_cast<char*>(map) + first * page, count * page, resident) == 0;
    for (std::uint64_t i = 0; all && i < count; ++i) all = (resident[i] & 1) != 0;
  }
  ::munmap(map, size);
  return all;
}

error_code sync_fd(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return last_error();
  }
  return {};
}

error_code sync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return last_error();
  return sync_fd(fd.get());
}

error_code rename_file(const std::string& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return last_error();
  return {};
}

void remove_file(const fs::path& path) noexcept {
  ::unlink(path.c_str());
}

error_code set_mtime(const fs::path& path, std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const auto sec = ns / 1'000'000'000 - (ns % 1'000'000'000 < 0 ? 1 : 0);
  const timespec at{static_cast<time_t>(sec), static_cast<long>(ns - sec * 1'000'000'000)};
  const timespec times[2] = {at, at};
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) return last_error();
  return {};
}

Result<std::string> write_durable_tmp(const fs::path& dir, std::string_view prefix, std::string_view bytes) {
  auto tmp = create_tmp(dir, prefix);
  if (!tmp) return tmp.error();
  error_code ec = write_all(tmp->fd.get(), bytes);
  if (!ec) ec = sync_fd(tmp->fd.get());
  if (!ec && ::close(tmp->fd.release()) != 0) ec = last_error();
  if (ec) {
    remove_file(tmp->path);
    return ec;
  }
  return std::move(tmp->path);
}

std::optional<std::uint64_t> free_space(const fs::path& path) noexcept {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace relay::storage::disk
