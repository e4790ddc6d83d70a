// Spool (see spool.hpp): memory first, then an unlinked temporary file.
#include "relay/proxy/spool.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "relay/util/log.hpp"

namespace relay::proxy {

namespace {
constexpr std::size_t file_read_size = 64 * 1024;

// An unlinked temporary file in dir, or -1 (errno set).
int open_spool_file(const std::string& dir) {
  // O_TMPFILE: the file has no name, so nothing is left behind by a crash.
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string path = dir + "/relay-spool-XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.c_str());
  }
  return fd;
}

}  // namespace

SpoolDirCheck check_spool_dir(const std::string& configured) {
  std::error_code ec;
  SpoolDirCheck out;
  out.dir = configured.empty() ? std::filesystem::temp_directory_path(ec).string() : configured;
  if (out.dir.empty()) out.dir = "/tmp";
  const int fd = open_spool_file(out.dir);
  if (fd < 0)
    out.problem = "cannot create a temporary file in " + out.dir + ": " + std::strerror(errno);
  else
    ::close(fd);
  return out;
}

std::string usable_spool_dir(const std::string& configured) {
  auto checked = check_spool_dir(configured);
  if (!checked.problem.empty()) throw std::runtime_error("cache.coalesce.spool_dir: " + checked.problem);
  return checked.dir;
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
  if (retired_fd_ >= 0) ::close(retired_fd_);
}

int Spool::open_own_file() const {
  const int fd = open_spool_file(dir_);
  if (fd < 0)
    log::warn("coalescing spool: cannot create a temporary file in ", dir_, ": ", std::strerror(errno),
              "; followers of this fill are cut short");
  return fd;
}

bool Spool::append(std::span<const char> bytes, int store_fd) {
  if (bytes.empty()) return true;
  std::unique_lock lock(mutex_);
  if (broken_) return false;
  if (fd_ < 0 && memory_size_ + bytes.size() <= memory_budget_) {
    starts_.push_back(memory_size_);
    chunks_.push_back(std::make_shared<const std::string>(bytes.data(), bytes.size()));
    memory_size_ += bytes.size();
    size_ += bytes.size();
    return true;
  }
  if (fd_ < 0 && store_fd >= 0) {
    // A duplicate: the store closes its own descriptor when it commits or
    // drops the body, while followers may still be reading.
    fd_ = ::fcntl(store_fd, F_DUPFD_CLOEXEC, 0);
    if (fd_ >= 0) {
      store_file_ = true;
      file_base_ = 0;
    }
  }
  if (store_file_) {
    // The store's file has every byte so far, these included: nothing to write.
    if (store_fd >= 0) {
      size_ += bytes.size();
      return true;
    }
    // Followers go on reading the store's file while the copy runs.
    lock.unlock();
    const int own = copy_out_of_store();
    lock.lock();
    if (own < 0) {
      broken_ = true;
      return false;
    }
    retired_fd_ = fd_;
    fd_ = own;
    file_base_ = memory_size_;
    store_file_ = false;
  }
  if (fd_ < 0) {
    fd_ = open_own_file();
    if (fd_ < 0) {
      broken_ = true;
      return false;
    }
    file_base_ = memory_size_;
  }
  // Only this writer appends, and readers never read past size_: the write
  // itself needs no lock.
  const int fd = fd_;
  const auto file_offset = static_cast<off_t>(size_ - file_base_);
  lock.unlock();
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, file_offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log::warn("coalescing spool: writing in ", dir_, " failed: ", n < 0 ? std::strerror(errno) : "no space",
                "; followers of this fill are cut short");
      std::lock_guard relock(mutex_);
      broken_ = true;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  lock.lock();
  size_ += bytes.size();
  return true;
}

std::uint64_t Spool::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

bool Spool::spilled() const {
  std::lock_guard lock(mutex_);
  return fd_ >= 0;
}

bool Spool::reads_store() const {
  std::lock_guard lock(mutex_);
  return store_file_;
}

// The store let go of the body (it failed, or it stopped at its size
// limit): what is past memory is copied from its file, still open here, into
// a file of the spool's own, which takes the rest; -1 when that fails. Rare,
// and a kernel copy. Called by the writer without the lock: only the writer
// changes fd_, size_ and memory_size_, and followers read the store's file
// meanwhile.
int Spool::copy_out_of_store() {
  const int own = open_own_file();
  if (own < 0) return -1;
  auto from = static_cast<off_t>(memory_size_);
  auto left = size_ - memory_size_;
  while (left > 0) {
    const auto n = ::sendfile(own, fd_, &from, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1 << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log::warn("coalescing spool: copying a body the store dropped into ", dir_, " failed: ",
                n < 0 ? std::strerror(errno) : "short file", "; followers of this fill are cut short");
      ::close(own);
      return -1;
    }
    left -= static_cast<std::uint64_t>(n);
  }
  return own;
}

std::span<const char> Spool::read(std::uint64_t offset, std::string& buffer,
                                  std::shared_ptr<const std::string>& hold) const {
  std::unique_lock lock(mutex_);
  if (offset >= size_) return {};
  if (offset < memory_size_) {
    auto i = static_cast<std::size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin()) - 1;
    hold = chunks_[i];
    auto skip = static_cast<std::size_t>(offset - starts_[i]);
    return std::span<const char>(hold->data() + skip, hold->size() - skip);
  }
  const int fd = fd_;
  const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(file_read_size, size_ - offset));
  const auto file_offset = static_cast<off_t>(offset - file_base_);
  lock.unlock();
  buffer.resize(want);
  for (;;) {
    auto n = ::pread(fd, buffer.data(), want, file_offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log::warn("coalescing spool: reading in ", dir_, " failed: ", n < 0 ? std::strerror(errno) : "short file");
      return {};
    }
    return std::span<const char>(buffer.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace relay::proxy
