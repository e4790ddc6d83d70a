// Disk backend, the Storage face: start-up, lookups (expiry, the cheap size
// check, then a reader that verifies every block before releasing a byte of
// it: reader.cpp), puts (writer.cpp, which reserves free space here), head
// updates, removals and the sweep, each hopping to the I/O pool, where all
// file I/O runs. See store.hpp for the commit order.
#include "relay/storage/disk_store.hpp"

#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <filesystem>

#include "store.hpp"
#include "relay/util/log.hpp"

namespace relay::storage {
namespace disk {
namespace {

// Eviction to make free space is bounded: per round (one hold of the index
// mutex, like a sweep batch) and in rounds per reservation. Past them the
// body is not stored; the response is served all the same.
constexpr std::uint64_t victims_per_round = 64;
constexpr int eviction_rounds = 4;
// The sweep removes tmp/ files untouched this long: far past the gap between
// two chunk writes of any live body (see sweep.cpp).
constexpr auto tmp_max_age = std::chrono::hours(1);

// "host:/absolute/cache/path": instances on separate machines each sweep
// their own directory; two processes on one directory share the scope.
std::string sweep_scope(const std::string& path) {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::error_code ec;
  auto where = std::filesystem::weakly_canonical(std::filesystem::absolute(path), ec);
  return std::string(host) + ":" + (ec ? path : where.string());
}

}  // namespace

void close_later(asio::thread_pool& pool, Fd fd, std::string unlink_path) {
  if (!fd && unlink_path.empty()) return;
  asio::post(pool, [raw = fd.release(), path = std::move(unlink_path)] {
    Fd closing(raw);
    closing.reset();
    if (!path.empty()) remove_file(path);
  });
}

DiskStore::DiskStore(const config::DiskStorageConfig& cfg, Clock clock, FreeSpaceProbe probe)
    : cfg_(cfg),
      scope_(sweep_scope(cfg.path)),
      index_{Layout{cfg.path}, cfg.max_size, std::move(clock)},
      space_(cfg.path, cfg.min_free_space, std::move(probe)),
      pool_(static_cast<std::size_t>(std::max(1, cfg.io_threads))) {
  auto scan = recover(index_.layout, index_.clock());
  index_.adopt(scan);  // also evicts, in case max_size shrank since the last run
  auto st = index_.stats();
  log::info("disk storage ", cfg.path, ": recovered ", st.entries, " entries (", st.size_bytes,
            " bytes); removed ", scan.orphans, " orphan bodies (", scan.orphan_bytes, " bytes), ",
            scan.bad_records, " bad records (", scan.old_records, " of an older format), ", scan.expired,
            " expired, ", scan.tmp_removed, " temporary files, ", st.evictions, " over the size limit");
}

namespace {

// The record name (hex SHA-256) of the keys this thread looked up last,
// kept by key: a hot key is hashed once, not on every hit. Direct-mapped;
// the strings keep their buffers, so a lookup allocates nothing.
const std::string& record_name_of(std::string_view key) {
  struct Slot {
    std::string key, name;
  };
  thread_local std::array<Slot, 64> slots;
  auto& slot = slots[std::hash<std::string_view>{}(key) % slots.size()];
  if (slot.key != key || slot.name.empty()) {
    slot.key.assign(key);
    sha256_hex(key, slot.name);
  }
  return slot.name;
}

}  // namespace

asio::awaitable<Result<std::optional<Hit>>> DiskStore::get(const CacheKey& cache_key) {
  // This thread's buffers: nothing here suspends before they are copied.
  thread_local std::string flat_scratch;
  const auto flat = cache_key.flat_view(flat_scratch);
  const std::string& name_scratch = record_name_of(flat);
  // A miss is answered from memory, and so is a hit on a trusted body in
  // the page cache: neither needs a thread hop.
  bool found = false;
  if (auto hit = trusted_hit(name_scratch, flat, found)) co_return std::move(hit);
  if (!found) co_return std::optional<Hit>{};
  const std::string name = name_scratch, key(flat);
  co_return co_await on_pool(pool_, [&] { return load(name, key); });
}

std::optional<Hit> DiskStore::trusted_hit(const std::string& name, std::string_view key, bool& present) {
  std::shared_ptr<const Fd> fd;
  FileStamp stamp;
  EntryMeta meta;
  auto find_object = [&](const Index::Entry& entry) { return index_.objects.find(entry.body_hex); };
  {
    std::lock_guard lock(index_.mutex);
    auto it = index_.find_locked(name, key);
    present = it != index_.entries.end();
    if (!present) return std::nullopt;
    const auto& entry = it->second;
    // Expiry and the once-a-minute record touch are the pool's work.
    if (expired(entry.meta, index_.clock()) ||
        std::chrono::steady_clock::now() - entry.touched > std::chrono::minutes(1))
      return std::nullopt;
    auto object = find_object(entry);
    if (object == index_.objects.end() || !object->second.open || !object->second.verified) return std::nullopt;
    fd = object->second.open;
    stamp = *object->second.verified;
    meta = entry.meta;
    index_.lru.splice(index_.lru.begin(), index_.lru, entry.lru);
  }
  auto now = file_stamp(fd->get());
  if (now && *now == stamp && fully_cached(fd->get(), stamp.size)) {
    const auto size = stamp.size;
    return Hit{std::move(meta), make_open_file_reader(shared_from_this(), std::move(fd), size)};
  }
  // Changed, or partly out of the page cache: the pool reads and checks it.
  std::lock_guard lock(index_.mutex);
  if (auto it = index_.find_locked(name, key); it != index_.entries.end()) {
    if (auto object = find_object(it->second); object != index_.objects.end() && object->second.open == fd)
      object->second.open.reset();
  }
  return std::nullopt;
}

void DiskStore::keep_open(const std::string& body_hex, const FileStamp& stamp, int fd) {
  std::lock_guard lock(index_.mutex);
  auto object = index_.objects.find(body_hex);
  if (object == index_.objects.end() || object->second.open || object->second.verified != stamp) return;
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return;
  // The last holder may be a reader on an event loop, and the close may
  // free an unlinked body's blocks: it is the pool's job while there is one.
  std::weak_ptr<DiskStore> store = weak_from_this();
  object->second.open = std::shared_ptr<const Fd>(new Fd(copy), [store](const Fd* open) {
    Fd owned(const_cast<Fd*>(open)->release());
    delete open;
    if (auto alive = store.lock()) close_later(alive->pool(), std::move(owned));
  });
}

Result<std::optional<Hit>> DiskStore::load(const std::string& name, const std::string& key) {
  EntryMeta meta;
  std::string body_hex;
  BlockList blocks;
  std::optional<FileStamp> verified;
  bool touch = false;
  {
    std::lock_guard lock(index_.mutex);
    auto it = index_.find_locked(name, key);
    if (it == index_.entries.end()) return std::optional<Hit>{};
    if (expired(it->second.meta, index_.clock())) {
      index_.erase_entry_locked(it, true);
      ++index_.expirations;
      return std::optional<Hit>{};
    }
    index_.lru.splice(index_.lru.begin(), index_.lru, it->second.lru);
    meta = it->second.meta;
    body_hex = it->second.body_hex;
    blocks = it->second.blocks;
    if (cfg_.verify == config::DiskVerify::FirstRead) {
      if (auto object = index_.objects.find(body_hex); object != index_.objects.end())
        verified = object->second.verified;
    }
    // Access order survives a restart through record mtimes, bumped at most
    // once a minute per entry so a hot object costs no extra I/O per hit.
    auto now = std::chrono::steady_clock::now();
    if (now - it->second.touched > std::chrono::minutes(1)) {
      it->second.touched = now;
      touch = true;
    }
  }
  if (touch) (void)set_mtime(index_.layout.record_path(name), index_.clock());
  auto fd = open_read(index_.layout.object_path(body_hex));
  if (!fd && fd.error().value() != ENOENT) return io_failure("opening a body", fd.error());
  auto stamp = fd ? file_stamp(fd->get()) : Result<FileStamp>(FileStamp{});
  if (!stamp) return io_failure("reading a body's size", stamp.error());
  // A cheap stat catches truncated or missing bodies before anything is sent.
  if (!fd || stamp->size != meta.body_size) {
    drop_corrupt(name, key, body_hex, fd ? "has the wrong size" : "is missing");
    return std::optional<Hit>{};
  }
  // Pages that left the page cache come back from the disk: checked again.
  const bool trusted = verified == *stamp && fully_cached(fd->get(), stamp->size);
  if (trusted) keep_open(body_hex, *stamp, fd->get());
  return make_hit(shared_from_this(), name, key, body_hex, BodyFile{std::move(*fd), *stamp, trusted},
                  std::move(meta), std::move(blocks));
}

void DiskStore::mark_verified(const std::string& body_hex, const FileStamp& stamp) {
  if (cfg_.verify != config::DiskVerify::FirstRead) return;
  // A file changed within the last second could change again without its
  // ctime moving (kernels without fine-grained timestamps tick every few
  // ms): such a body is checked again on its next read.
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  constexpr std::int64_t settled_ns = 2'000'000'000;
  const std::int64_t age_ns = (static_cast<std::int64_t>(now.tv_sec) - stamp.ctime_sec) * 1'000'000'000 +
                              (static_cast<std::int64_t>(now.tv_nsec) - stamp.ctime_nsec);
  if (age_ns < settled_ns) return;
  std::lock_guard lock(index_.mutex);
  if (auto object = index_.objects.find(body_hex); object != index_.objects.end()) object->second.verified = stamp;
}

asio::awaitable<Result<std::unique_ptr<BodyWriter>>> DiskStore::put(const CacheKey& cache_key, EntryMeta meta) {
  // Free space is reserved as the body is written, not here: its size is
  // not known yet, and a put costs no thread hop.
  co_return make_writer(shared_from_this(), cache_key.flat(), std::move(meta));
}

bool DiskStore::reserve_space(std::uint64_t bytes) {
  std::uint64_t evicted = 0;
  for (int round = 0;; ++round) {
    auto shortfall = space_.try_reserve(bytes);
    if (shortfall == 0) break;
    auto victims = round < eviction_rounds ? index_.evict_for_space(shortfall, victims_per_round) : 0;
    evicted += victims;
    if (victims == 0) {
      space_.note_pressure(evicted, true);
      return false;
    }
  }
  if (evicted != 0) space_.note_pressure(evicted, false);
  return true;
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

asio::awaitable<Result<std::uint64_t>> DiskStore::purge(const PurgeRequest& request) {
  auto self = shared_from_this();  // as in sweep()
  std::string cursor;
  std::uint64_t count = 0;
  // Each slice is a hop to the pool and back: the loop runs between them.
  for (;;) {
    auto more = co_await on_pool(pool_, [&] { return disk::purge_step(index_, request, cursor, count); });
    if (!more) co_return Result<std::uint64_t>(more.error());
    if (!*more) co_return count;
  }
}

asio::awaitable<Result<SweepReport>> DiskStore::sweep() {
  // The store, and the pool the sweep runs on, outlive the sweep whoever
  // drops their reference meanwhile.
  auto self = shared_from_this();
  co_return co_await on_pool(pool_, [this]() -> Result<SweepReport> {
    auto cutoff = std::filesystem::file_time_type::clock::now() - tmp_max_age;
    return disk::sweep(index_, index_.clock(), cutoff);
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

}  // namespace disk

std::shared_ptr<Storage> make_disk_store(const config::DiskStorageConfig& cfg, Clock clock) {
  return std::make_shared<disk::DiskStore>(cfg, std::move(clock));
}

}  // namespace relay::storage
