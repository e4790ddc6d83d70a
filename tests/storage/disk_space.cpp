// The disk store's min_free_space guard (disk/space.hpp) on a small disk
// played by a free-space probe: capacity less what the cache directory
// holds. Writers in flight together never go below the limit; least
// recently used entries are evicted to make room; a body that cannot fit
// even then fails cleanly, leaving nothing behind.
#include <atomic>
#include <future>
#include <limits>

#include "../../src/storage/disk/store.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::storage;
using namespace relay::storage::test;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t min_free = 1 * MiB;
constexpr std::size_t piece = 64 * KiB;  // a block: every write reaches the file

// A disk store on a pretend disk of `capacity` bytes, with its own loops.
struct SmallDisk {
  TempDir dir;
  fs::path root = dir.path() / "cache";
  std::atomic<std::uint64_t> capacity{std::numeric_limits<std::uint64_t>::max() / 2};
  std::vector<std::unique_ptr<Loop>> loops;
  std::shared_ptr<disk::DiskStore> store;

  explicit SmallDisk(std::size_t loop_count = 1) {
    for (std::size_t i = 0; i < loop_count; ++i) loops.push_back(std::make_unique<Loop>());
    config::DiskStorageConfig cfg;
    cfg.path = root.string();
    cfg.min_free_space = min_free;
    cfg.io_threads = 4;
    store = std::make_shared<disk::DiskStore>(cfg, real_clock(), [this](const fs::path&) {
      return std::optional<std::uint64_t>(free_now());
    });
  }
  ~SmallDisk() {
    for (auto& loop : loops) loop->stop();
    store.reset();
  }

  std::uint64_t used() const { return total_size(root); }
  std::uint64_t free_now() const {
    auto u = used();
    return capacity > u ? capacity - u : 0;
  }
  // From now on the disk has room for min_free_space and `headroom` more.
  // The store trusts a reading for 100 ms (space.cpp): wait that out, as
  // for a disk that something else filled.
  void leave(std::uint64_t headroom) {
    capacity = used() + min_free + headroom;
    std::this_thread::sleep_for(150ms);
  }

  template <class T>
  T run(asio::awaitable<T> task) {
    return loops.front()->run(std::move(task));
  }
  bool has(const std::string& key) {
    auto r = run(get_body(*store, key));
    REQUIRE_MESSAGE(r.has_value(), "get failed: " << r.error().message());
    return r->has_value();
  }
};

// A writer left open after writing as much of body as it was allowed.
struct UncommittedWrite {
  std::unique_ptr<BodyWriter> writer;
  std::uint64_t accepted = 0;
  error_code failure;
};

asio::awaitable<UncommittedWrite> write_uncommitted(Storage& s, std::string key, std::string body) {
  UncommittedWrite out;
  auto w = co_await s.put(key, text_meta(key, body.size()));
  if (!w) {
    out.failure = w.error();
    co_return out;
  }
  out.writer = std::move(*w);
  for (std::size_t at = 0; at < body.size(); at += piece) {
    auto n = std::min(piece, body.size() - at);
    auto r = co_await out.writer->write(std::span<const char>(body.data() + at, n));
    if (!r) {
      out.failure = r.error();
      co_return out;
    }
    out.accepted += n;
  }
  co_return out;
}

// Stores a body of size under each key, each body its own (no sharing).
void put_distinct(SmallDisk& disk, std::initializer_list<const char*> keys, std::size_t size) {
  std::uint64_t seed = 720;
  for (const char* key : keys) {
    auto body = random_body(size, seed++);
    auto r = disk.run(put_body(*disk.store, key, text_meta(key, body.size()), body));
    REQUIRE_MESSAGE(r.has_value(), key << ": " << r.error().message());
  }
}

}  // namespace

TEST_CASE("disk space: concurrent writers in flight cannot together go below min_free_space") {
  SmallDisk disk(4);
  constexpr std::uint64_t headroom = 1 * MiB;
  disk.leave(headroom);
  // Four bodies of 512 KiB, written at once on four loops: twice the room.
  std::vector<std::future<UncommittedWrite>> running;
  for (std::size_t i = 0; i < disk.loops.size(); ++i) {
    running.push_back(std::async(std::launch::async, [&, i] {
      return disk.loops[i]->run(write_uncommitted(*disk.store, numbered("w", i), random_body(512 * KiB, 700 + i)));
    }));
  }
  std::vector<UncommittedWrite> writers;
  for (auto& f : running) writers.push_back(f.get());

  std::uint64_t accepted = 0, refused = 0;
  for (auto& w : writers) {
    if (w.failure) {
      ++refused;
      CHECK_MESSAGE(w.failure == make_error_code(Errc::storage_unavailable), w.failure.message());
    } else {
      accepted += w.accepted;
    }
  }
  CHECK_MESSAGE(refused > 0, "every writer fit in half the room they asked for");
  CHECK_MESSAGE(accepted <= headroom, "writers in flight were let past min_free_space: " << accepted);
  CHECK_MESSAGE(disk.free_now() >= min_free, "free space fell to " << disk.free_now());
  CHECK(disk.store->space().in_flight() == accepted);

  writers.clear();  // abandoned: reservations and temporary files go
  CHECK(disk.store->space().in_flight() == 0);
  const auto tmp = disk.root / "tmp";
  for (int i = 0; i < 100 && !files_under(tmp).empty(); ++i) std::this_thread::sleep_for(20ms);
  CHECK_MESSAGE(files_under(tmp).empty(), "abandoned bodies left in tmp/");
}

TEST_CASE("disk space: least recently used entries are evicted to make room") {
  SmallDisk disk;
  put_distinct(disk, {"a", "b", "c"}, 400 * KiB);
  REQUIRE(disk.has("a"));  // a is now more recently used than b and c
  disk.leave(250 * KiB);
  const auto evictions_before = disk.store->stats().evictions;

  const std::string fresh = random_body(300 * KiB, 711);
  auto r = disk.run(put_body(*disk.store, "new", text_meta("new", fresh.size()), fresh, piece));
  REQUIRE_MESSAGE(r.has_value(), "a body that fits once b is evicted was not stored: " << r.error().message());
  CHECK(disk.has("new"));
  CHECK_MESSAGE(!disk.has("b"), "the least recently used entry was kept");
  CHECK_MESSAGE(disk.has("a"), "a recently used entry was evicted before the least recently used one");
  CHECK_MESSAGE(disk.has("c"), "more was evicted than the room needed");
  CHECK(disk.store->stats().evictions == evictions_before + 1);
  CHECK_MESSAGE(disk.free_now() >= min_free, "free space fell to " << disk.free_now());
  CHECK(disk.store->space().in_flight() == 0);
}

TEST_CASE("disk space: a body that cannot fit even after eviction fails cleanly") {
  SmallDisk disk;
  put_distinct(disk, {"a", "b"}, 100 * KiB);
  disk.leave(100 * KiB);

  const std::string big = random_body(2 * MiB, 721);
  auto r = disk.run(put_body(*disk.store, "big", text_meta("big", big.size()), big, piece));
  REQUIRE_FALSE_MESSAGE(r.has_value(), "a body larger than the disk's room was stored");
  CHECK_MESSAGE(r.error() == make_error_code(Errc::storage_unavailable), r.error().message());
  CHECK(!disk.has("big"));
  CHECK_MESSAGE(disk.free_now() >= min_free, "free space fell to " << disk.free_now());
  CHECK(disk.store->space().in_flight() == 0);
  // Nothing of the refused body stays: each file left is an entry's.
  const auto entries = disk.store->stats().entries;
  CHECK_MESSAGE(entries < 2, "nothing was evicted to try to make room");
  const auto tmp = disk.root / "tmp";
  for (int i = 0; i < 100 && !files_under(tmp).empty(); ++i) std::this_thread::sleep_for(20ms);
  CHECK_MESSAGE(files_under(tmp).empty(), "the refused body left a file in tmp/");
  CHECK(count_files(disk.root / "objects") == entries);
  CHECK(count_files(disk.root / "meta") == entries);

  // The disk is usable again for what fits.
  put_distinct(disk, {"again"}, 100 * KiB);
}
