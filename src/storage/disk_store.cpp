// Disk backend, the Storage face: start-up, lookups (expiry, the cheap size
// check, then a reader that verifies every block before releasing a byte of
// it: disk_blocks.hpp), the body writer up to the point where Index::publish
// takes over, the free-space guard, and the hops between the event loop and
// the I/O pool, where all file I/O runs.
// Commit order, so that kill -9 at any point leaves no record naming a
// partial body: body to tmp/, fsync, rename into objects/, fsync the
// directory; then the record to tmp/, fsync, rename into meta/.
#include "relay/storage/disk_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <climits>
#include <exception>
#include <filesystem>

#include "disk_blocks.hpp"
#include "disk_files.hpp"
#include "relay/util/log.hpp"

namespace relay::storage {
namespace {
namespace asio = boost::asio;
using namespace disk;
using Clock = std::chrono::steady_clock;

// A long write re-checks free space this often: a single large body must
// not be what fills the disk.
constexpr std::uint64_t space_check_every = 8ull << 20;
// put() trusts a free-space answer this old, so puts need no thread hop.
constexpr auto space_check_ttl = std::chrono::seconds(1);
// The sweep removes tmp/ files untouched this long: far past the gap between
// two chunk writes of any live body (see disk_sweep.cpp).
constexpr auto tmp_max_age = std::chrono::hours(1);

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
void close_later(asio::thread_pool& pool, Fd fd, std::string unlink_path = {}) {
  if (!fd && unlink_path.empty()) return;
  asio::post(pool, [raw = fd.release(), path = std::move(unlink_path)] {
    Fd closing(raw);
    closing.reset();
    if (!path.empty()) remove_file(path);
  });
}

// "host:/absolute/cache/path": instances on separate machines each sweep
// their own directory; two processes on one directory share the scope.
std::string sweep_scope(const std::string& path) {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::error_code ec;
  auto where = std::filesystem::weakly_canonical(std::filesystem::absolute(path), ec);
  return std::string(host) + ":" + (ec ? path : where.string());
}

class DiskStore final : public Storage, public Maintainable, public std::enable_shared_from_this<DiskStore> {
 public:
  explicit DiskStore(const config::DiskStorageConfig& cfg);
  // Lets pending closes and unlinks finish; no coroutine can still be in
  // the pool, since each one keeps the store alive.
  ~DiskStore() override { pool_.join(); }

  asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) override;
  asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key, EntryMeta meta) override;
  asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) override;
  asio::awaitable<Result<bool>> remove(const CacheKey& key) override;
  std::string_view backend_name() const noexcept override { return "disk"; }

  Stats stats() const override { return index_.stats(); }

  asio::awaitable<Result<SweepReport>> sweep() override;
  std::string maintenance_task() const override { return "disk_sweep"; }
  std::string maintenance_scope() const override { return scope_; }

  // For the reader and writer; the blocking ones run on the pool.
  asio::thread_pool& pool() noexcept { return pool_; }
  const Layout& layout() const noexcept { return index_.layout; }
  std::uint64_t max_size() const noexcept { return cfg_.max_size; }
  bool check_space();
  Index& index() noexcept { return index_; }
  void drop_corrupt(const std::string& name, const std::string& key, const std::string& body_hex,
                    std::string_view why);

 private:
  Result<std::optional<Hit>> load(const std::string& name, const std::string& key);
  bool present(const std::string& name, const std::string& key) {
    std::lock_guard lock(index_.mutex);
    return index_.find_locked(name, key) != index_.entries.end();
  }

  config::DiskStorageConfig cfg_;
  std::string scope_;

  Index index_;

  std::atomic<bool> space_ok_{true};
  std::atomic<Clock::rep> space_checked_{0};

  asio::thread_pool pool_;  // last: its threads stop before the index goes
};

// Yields the body a verified block at a time (BlockReader): a block that
// fails its hash drops the entry and fails the read before any of its bytes
// is handed out. One block in memory; a Range skips the blocks before it.
class DiskReader final : public BodyReader {
 public:
  DiskReader(std::shared_ptr<DiskStore> store, std::string name, std::string key, std::string body_hex, Fd fd,
             std::uint64_t size, BlockList blocks)
      : store_(std::move(store)),
        name_(std::move(name)),
        key_(std::move(key)),
        body_hex_(std::move(body_hex)),
        blocks_(std::move(fd), size, std::move(blocks)) {}
  ~DiskReader() override { close_later(store_->pool(), blocks_.release()); }

  // Blocking. Reads the first block now (a body of one block: all of it), so
  // that a damaged one becomes a plain miss rather than a failed response.
  // On error, corrupt() tells which of the two it was.
  error_code preload() {
    auto got = next_block();
    if (!got) return got.error();
    preloaded_ = *got;
    return {};
  }
  bool corrupt() const noexcept { return corrupt_; }

  std::uint64_t start_at(std::uint64_t offset) override {
    // A preloaded block is block 0, already read.
    return preloaded_ ? 0 : blocks_.start_at(offset);
  }

  asio::awaitable<Result<std::span<const char>>> read() override {
    if (preloaded_) co_return std::exchange(preloaded_, std::nullopt).value();
    if (failed_) co_return failed_;
    if (blocks_.done()) co_return std::span<const char>{};
    co_return co_await on_pool(store_->pool(), [this] { return next_block(); });
  }

 private:
  // Blocking.
  Result<std::span<const char>> next_block() {
    auto got = blocks_.next();
    if (got) return got;
    failed_ = got.error();
    if (failed_ == Errc::storage_corrupt) {
      store_->drop_corrupt(name_, key_, body_hex_, blocks_.fault());
      corrupt_ = true;
    }
    return failed_;
  }

  std::shared_ptr<DiskStore> store_;
  std::string name_, key_, body_hex_;
  BlockReader blocks_;
  std::optional<std::span<const char>> preloaded_;
  bool corrupt_ = false;
  error_code failed_;
};

class DiskWriter final : public BodyWriter {
 public:
  DiskWriter(std::shared_ptr<DiskStore> store, std::string key, EntryMeta meta)
      : store_(std::move(store)), key_(std::move(key)), meta_(std::move(meta)) {}
  ~DiskWriter() override { discard(); }

  asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    if (failed_) co_return failed_;
    auto total = size_ + chunk.size();
    // A body that can never fit the cache is refused like one over
    // max_object_size (as is one whose block list would not fit a record).
    if (total > store_->max_size() || total > max_body_size)
      co_return fail(Errc::object_too_large);
    size_ = total;
    // Small chunks are gathered so a body costs one thread hop per 64 KiB.
    if (buffer_.size() + chunk.size() < block_size) {
      buffer_.append(chunk.data(), chunk.size());
      co_return Result<void>{};
    }
    auto ec = co_await on_pool(store_->pool(), [this, chunk] { return flush(chunk); });
    if (ec) co_return fail(ec);
    co_return Result<void>{};
  }

  asio::awaitable<Result<void>> commit() override {
    if (failed_) co_return failed_;
    auto ec = co_await on_pool(store_->pool(), [this]() -> error_code {
      if (auto e = flush({})) return e;
      if (auto e = sync_fd(tmp_.fd.get())) return io_failure("syncing a body", e);
      tmp_.fd.reset();
      meta_.body_size = size_;
      // From here publish() owns the temporary file, whatever happens.
      auto blocks = std::make_shared<const std::string>(blocks_.finish());
      return store_->index().publish(key_, std::move(meta_), to_hex(hash_.finish()), std::move(blocks),
                                     std::exchange(tmp_.path, {}));
    });
    if (ec) co_return fail(ec);
    failed_ = unavailable();  // spent: a second commit is a caller bug
    co_return Result<void>{};
  }

 private:
  // Blocking. Appends the buffer, then more, to the temporary file.
  error_code flush(std::span<const char> more) {
    if (!tmp_.fd) {
      auto tmp = create_tmp(store_->layout().tmp(), "b.");
      if (!tmp) return io_failure("creating a temporary file", tmp.error());
      tmp_ = std::move(*tmp);
    }
    if (written_ >= next_space_check_) {
      next_space_check_ = written_ + space_check_every;
      if (!store_->check_space()) return unavailable();
    }
    for (auto part : {std::span<const char>(buffer_), more}) {
      hash_.update(part);
      blocks_.update(part);
      if (auto e = write_all(tmp_.fd.get(), part)) return io_failure("writing a body", e);
      written_ += part.size();
    }
    buffer_.clear();
    return {};
  }

  error_code fail(error_code ec) {
    failed_ = ec;
    discard();
    return ec;
  }

  void discard() {
    buffer_.clear();
    close_later(store_->pool(), std::move(tmp_.fd), std::exchange(tmp_.path, {}));
  }

  std::shared_ptr<DiskStore> store_;
  std::string key_;
  EntryMeta meta_;
  std::string buffer_;
  Sha256 hash_;         // the whole body: its name under objects/
  BlockHasher blocks_;  // each block: what readers verify
  TmpFile tmp_;         // created on the first flush
  std::uint64_t size_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t next_space_check_ = space_check_every;
  error_code failed_;
};

DiskStore::DiskStore(const config::DiskStorageConfig& cfg)
    : cfg_(cfg),
      scope_(sweep_scope(cfg.path)),
      index_{Layout{cfg.path}, cfg.max_size},
      pool_(static_cast<std::size_t>(std::max(1, cfg.io_threads))) {
  auto scan = recover(index_.layout, std::chrono::system_clock::now());
  index_.adopt(scan);  // also evicts, in case max_size shrank since the last run
  auto st = index_.stats();
  log::info("disk storage ", cfg.path, ": recovered ", st.entries, " entries (", st.size_bytes,
            " bytes); removed ", scan.orphans, " orphan bodies (", scan.orphan_bytes, " bytes), ",
            scan.bad_records, " bad records (", scan.old_records, " of an older format), ", scan.expired,
            " expired, ", scan.tmp_removed, " temporary files, ", st.evictions, " over the size limit");
}

asio::awaitable<Result<std::optional<Hit>>> DiskStore::get(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto name = sha256_hex(key);
  // A miss is answered from memory, without a thread hop.
  if (!present(name, key)) co_return std::optional<Hit>{};
  co_return co_await on_pool(pool_, [&] { return load(name, key); });
}

Result<std::optional<Hit>> DiskStore::load(const std::string& name, const std::string& key) {
  EntryMeta meta;
  std::string body_hex;
  BlockList blocks;
  bool touch = false;
  {
    std::lock_guard lock(index_.mutex);
    auto it = index_.find_locked(name, key);
    if (it == index_.entries.end()) return std::optional<Hit>{};
    if (expired(it->second.meta, std::chrono::system_clock::now())) {
      index_.erase_entry_locked(it, true);
      ++index_.expirations;
      return std::optional<Hit>{};
    }
    index_.lru.splice(index_.lru.begin(), index_.lru, it->second.lru);
    meta = it->second.meta;
    body_hex = it->second.body_hex;
    blocks = it->second.blocks;
    // Access order survives a restart through record mtimes, bumped at most
    // once a minute per entry so a hot object costs no extra I/O per hit.
    auto now = std::chrono::steady_clock::now();
    if (now - it->second.touched > std::chrono::minutes(1)) {
      it->second.touched = now;
      touch = true;
    }
  }
  if (touch) ::utimensat(AT_FDCWD, index_.layout.record_path(name).c_str(), nullptr, 0);
  auto fd = open_read(index_.layout.object_path(body_hex));
  if (!fd && fd.error().value() != ENOENT) return io_failure("opening a body", fd.error());
  auto size = fd ? file_size(fd->get()) : Result<std::uint64_t>(std::uint64_t{0});
  if (!size) return io_failure("reading a body's size", size.error());
  // A cheap stat catches truncated or missing bodies before anything is sent.
  if (!fd || *size != meta.body_size) {
    drop_corrupt(name, key, body_hex, fd ? "has the wrong size" : "is missing");
    return std::optional<Hit>{};
  }
  auto reader = std::make_unique<DiskReader>(shared_from_this(), name, key, body_hex, std::move(*fd),
                                             meta.body_size, std::move(blocks));
  if (meta.body_size <= block_size) {
    if (auto ec = reader->preload()) {
      if (reader->corrupt()) return std::optional<Hit>{};
      return ec;
    }
  }
  return std::optional<Hit>{Hit{std::move(meta), std::move(reader)}};
}

asio::awaitable<Result<std::unique_ptr<BodyWriter>>> DiskStore::put(const CacheKey& cache_key, EntryMeta meta) {
  const std::string key = cache_key.flat();
  bool ok = space_ok_.load();
  auto age = Clock::now().time_since_epoch().count() - space_checked_.load();
  if (age > Clock::duration(space_check_ttl).count())
    ok = co_await on_pool(pool_, [this] { return check_space(); });
  if (!ok) co_return unavailable();
  co_return std::unique_ptr<BodyWriter>(
      std::make_unique<DiskWriter>(shared_from_this(), key, std::move(meta)));
}

bool DiskStore::check_space() {
  bool ok = true;
  if (cfg_.min_free_space != 0) {
    auto free = free_space(index_.layout.root);
    ok = free && *free >= cfg_.min_free_space;
  }
  space_checked_ = Clock::now().time_since_epoch().count();
  if (space_ok_.exchange(ok) != ok) {
    if (ok)
      log::info("disk storage ", cfg_.path, ": free space recovered, storing again");
    else
      log::warn("disk storage ", cfg_.path, ": free space below ", cfg_.min_free_space,
                " bytes, not storing");
  }
  return ok;
}

asio::awaitable<Result<void>> DiskStore::update_meta(const CacheKey& cache_key, EntryMeta meta) {
  const std::string key = cache_key.flat();
  auto name = sha256_hex(key);
  if (!present(name, key)) co_return Result<void>{};
  auto ec = co_await on_pool(pool_, [&]() -> error_code {
    std::string body_hex;
    BlockList blocks;
    {
      std::lock_guard lock(index_.mutex);
      auto it = index_.find_locked(name, key);
      if (it == index_.entries.end()) return {};
      body_hex = it->second.body_hex;
      blocks = it->second.blocks;
      meta.body_size = it->second.meta.body_size;
    }
    return index_.install(key, std::move(meta), body_hex, std::move(blocks), false);
  });
  if (ec) co_return ec;
  co_return Result<void>{};
}

asio::awaitable<Result<bool>> DiskStore::remove(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto name = sha256_hex(key);
  if (!present(name, key)) co_return false;
  co_return co_await on_pool(pool_, [&] {
    std::lock_guard lock(index_.mutex);
    auto it = index_.find_locked(name, key);
    if (it == index_.entries.end()) return false;
    index_.erase_entry_locked(it, true);
    return true;
  });
}

asio::awaitable<Result<SweepReport>> DiskStore::sweep() {
  // The store, and the pool the sweep runs on, outlive the sweep whoever
  // drops their reference meanwhile.
  auto self = shared_from_this();
  co_return co_await on_pool(pool_, [this]() -> Result<SweepReport> {
    auto cutoff = std::filesystem::file_time_type::clock::now() - tmp_max_age;
    return disk::sweep(index_, std::chrono::system_clock::now(), cutoff);
  });
}

void DiskStore::drop_corrupt(const std::string& name, const std::string& key, const std::string& body_hex,
                             std::string_view why) {
  std::lock_guard lock(index_.mutex);
  auto it = index_.find_locked(name, key);
  // Replaced since the read started: the fault was in a body no longer served.
  if (it == index_.entries.end() || it->second.body_hex != body_hex) return;
  ++index_.integrity_failures;
  log::warn("disk storage: body ", body_hex, " of ", key, " ", why, "; dropping every entry using it");
  index_.drop_body_locked(body_hex);
}

}  // namespace

std::shared_ptr<Storage> make_disk_store(const config::DiskStorageConfig& cfg) {
  return std::make_shared<DiskStore>(cfg);
}

}  // namespace relay::storage
