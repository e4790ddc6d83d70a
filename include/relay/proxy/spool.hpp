// The body of one fill, written once by its writer and read by every
// follower at its own pace (key_session.hpp). The first `memory_budget` bytes
// stay in memory, where most objects fit whole; the rest goes to an
// unlinked temporary file under `dir`, so a fill of any size costs the
// process at most the budget plus one read buffer per follower, however many
// follow it. nginx: proxy_temp_path; Varnish: the object being fetched.
// The file's blocks are freed when the last follower lets go of the fill.
//
// When the store keeps the body in a file of its own as it arrives (the
// memory store's memfd), the spool reads that file rather than writing a
// second copy: a large fill writes its body once, not twice. Should the
// store let go of the body midway, the spool copies what it had into its own
// file and goes on there.
//
// Thread-safe: one writer appends on its loop while followers read on
// theirs. Reads of the file are plain pread()s of bytes already written
// (page cache), like nginx's file I/O on its event loop.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace relay::proxy {

// The configured spool directory ("" = the system temporary directory),
// checked by creating (and closing) an unlinked temporary file in it.
struct SpoolDirCheck {
  std::string dir;
  std::string problem;  // empty when dir is usable
};
SpoolDirCheck check_spool_dir(const std::string& configured);
// check_spool_dir's dir; throws std::runtime_error naming
// cache.coalesce.spool_dir when it is unusable.
std::string usable_spool_dir(const std::string& configured);

class Spool {
 public:
  Spool(std::string dir, std::uint64_t memory_budget) : dir_(std::move(dir)), memory_budget_(memory_budget) {}
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Writer side. False (logged) when the bytes could not be kept: the
  // temporary file could not be created or written. store_fd: a file that
  // already holds every byte of the body so far, these included, each at
  // its offset in the body (storage::BodyWriter::body_fd), or -1.
  bool append(std::span<const char> bytes, int store_fd = -1);
  std::uint64_t size() const;

  // Follower side: bytes from `offset` (which must be < size()): a view of
  // an in-memory chunk (kept alive by `hold`) or up to 64 KiB read from the
  // file into `buffer`. Empty when the file cannot be read.
  std::span<const char> read(std::uint64_t offset, std::string& buffer,
                             std::shared_ptr<const std::string>& hold) const;

  // Whether any of the body went to the file (for tests and metrics).
  bool spilled() const;
  // Whether the bytes past memory are read from the store's file.
  bool reads_store() const;

 private:
  int open_own_file() const;
  int copy_out_of_store();

  const std::string dir_;
  const std::uint64_t memory_budget_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const std::string>> chunks_;  // the in-memory head of the body
  std::vector<std::uint64_t> starts_;                       // offset of each chunk
  std::uint64_t memory_size_ = 0;
  std::uint64_t size_ = 0;  // memory_size_ + bytes in the file
  int fd_ = -1;
  // Body offset of the file's first byte: memory_size_ for a file of the
  // spool's own, 0 for the store's.
  std::uint64_t file_base_ = 0;
  bool store_file_ = false;  // fd_ is a duplicate of the store's descriptor
  // A store file left for a file of the spool's own: still open, since a
  // follower may be reading it outside the lock.
  int retired_fd_ = -1;
  bool broken_ = false;
};

}  // namespace relay::proxy
