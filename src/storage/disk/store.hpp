// Private to disk/: the disk store's Storage face and what its body reader
// and writer share with it: the I/O pool and the hop onto it, the index,
// the free-space guard (reservations, and eviction to make room), dropping a
// corrupt body.
//
// Commit order, so that kill -9 at any point leaves no record naming a
// partial body: body to tmp/, fsync, rename into objects/, fsync the
// directory; then the record to tmp/, fsync, rename into meta/.
#pragma once

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "files.hpp"
#include "index.hpp"
#include "space.hpp"
#include "relay/config/config.hpp"
#include "relay/storage/clock.hpp"
#include "relay/storage/maintenance.hpp"
#include "relay/storage/storage.hpp"
#include "relay/util/pooled_frame.hpp"

namespace relay::storage::disk {

namespace asio = boost::asio;

// Runs fn on the pool, then resumes the caller on its own executor. The
// token is bound to the pool on purpose: post(pool, use_awaitable) alone
// would dispatch the resumption back to the coroutine's executor and fn
// would run on the event loop after all.
template <class Fn>
asio::awaitable<std::invoke_result_t<Fn&>> on_pool(asio::thread_pool& pool, Fn fn) {
  auto home = co_await asio::this_coro::executor;
  co_await asio::post(asio::bind_executor(pool.get_executor(), asio::use_awaitable));
  std::optional<std::invoke_result_t<Fn&>> result;
  std::exception_ptr failure;
  try {
    result.emplace(fn());
  } catch (...) {
    failure = std::current_exception();
  }
  co_await asio::post(home, asio::use_awaitable);
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*result);
}

// Closes (and unlinks a writer's leftover) on the pool: closing can be the
// moment an unlinked body's blocks are freed, which is not event-loop work.
void close_later(asio::thread_pool& pool, Fd fd, std::string unlink_path = {});

class DiskStore final : public Storage, public Maintainable, public std::enable_shared_from_this<DiskStore> {
 public:
  using coroutine_frames = util::PooledFrames;  // get() runs on every disk hit

  // probe tells free space under cfg.path (a seam for tests).
  DiskStore(const config::DiskStorageConfig& cfg, Clock clock, FreeSpaceProbe probe = free_space);
  // Lets pending closes and unlinks finish; no coroutine can still be in
  // the pool, since each one keeps the store alive.
  ~DiskStore() override { pool_.join(); }

  asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) override;
  asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key, EntryMeta meta) override;
  asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) override;
  asio::awaitable<Result<bool>> remove(const CacheKey& key) override;
  asio::awaitable<Result<std::uint64_t>> purge(const PurgeRequest& request) override;
  std::string_view backend_name() const noexcept override { return "disk"; }

  Stats stats() const override { return index_.stats(); }

  asio::awaitable<Result<SweepReport>> sweep() override;
  std::string maintenance_task() const override { return "disk_sweep"; }
  std::string maintenance_scope() const override { return scope_; }

  // For the reader and writer; the blocking ones run on the pool.
  asio::thread_pool& pool() noexcept { return pool_; }
  const Layout& layout() const noexcept { return index_.layout; }
  std::uint64_t max_size() const noexcept { return cfg_.max_size; }
  // Blocking. Reserves room for bytes a writer is about to write, evicting
  // least recently used entries when min_free_space would be crossed;
  // false: the body cannot be stored. Each reservation ends in release_space.
  bool reserve_space(std::uint64_t bytes);
  void release_space(std::uint64_t bytes, bool on_disk) { space_.release(bytes, on_disk); }
  const SpaceGuard& space() const noexcept { return space_; }
  Index& index() noexcept { return index_; }
  void drop_corrupt(const std::string& name, const std::string& key, const std::string& body_hex,
                    std::string_view why);
  // A read matched every block of body_hex, opened as `stamp`: later hits on
  // the same file may trust it (first_read only).
  void mark_verified(const std::string& body_hex, const FileStamp& stamp);

 private:
  Result<std::optional<Hit>> load(const std::string& name, const std::string& key);
  bool present(const std::string& name, const std::string& key) {
    std::lock_guard lock(index_.mutex);
    return index_.find_locked(name, key) != index_.entries.end();
  }
  // On the event loop: a hit whose body is trusted, open and wholly in the
  // page cache, found with an fstat and a page-cache count; nothing else
  // touches the file system. nullopt when the lookup must go to the pool
  // (present: the entry exists).
  std::optional<Hit> trusted_hit(const std::string& name, std::string_view key, bool& present);
  // Keeps fd (a trusted hit's file) open in its object for trusted_hit.
  void keep_open(const std::string& body_hex, const FileStamp& stamp, int fd);

  config::DiskStorageConfig cfg_;
  std::string scope_;

  Index index_;

  SpaceGuard space_;

  asio::thread_pool pool_;  // last: its threads stop before the index goes
};

// How a hit reads its body file (reader.cpp).
struct BodyFile {
  Fd fd;
  FileStamp stamp;  // the file as it was opened
  // Verified under this very stamp and wholly in the page cache: the reader
  // hands it out as a file (BodyReader::file) and reads it without hashing.
  bool trusted = false;
};

// Blocking. The hit for an entry whose body file is open and of the right
// size: unless trusted, a body of one block is read and verified now, so
// that a damaged one is a plain miss (nullopt) rather than a failed
// response. An untrusted reader that verifies every block records the
// stamp as verified (storage.disk.verify = "first_read").
Result<std::optional<Hit>> make_hit(std::shared_ptr<DiskStore> store, const std::string& name,
                                    const std::string& key, const std::string& body_hex, BodyFile file,
                                    EntryMeta meta, BlockList blocks);
// A reader of a trusted body through an object's kept-open file: file() for
// sendfile, read() in 64 KiB slices on the pool, no hashing (reader.cpp).
std::unique_ptr<BodyReader> make_open_file_reader(std::shared_ptr<DiskStore> store, std::shared_ptr<const Fd> fd,
                                                  std::uint64_t size);
// The writer of a new body for key (writer.cpp).
std::unique_ptr<BodyWriter> make_writer(std::shared_ptr<DiskStore> store, std::string key, EntryMeta meta);

}  // namespace relay::storage::disk
