// Shared machinery of the storage test suite (conformance.cpp,
// backend_specific.cpp; implemented in backends.cpp):
//
// - Loop: an io_context run by its own thread, the way relay runs its event
//   loops; tests hand it coroutines and wait for their results with a time
//   limit, so a hung backend fails a test instead of hanging the suite.
// - RedisServer: a real redis-server on a free 127.0.0.1 port, started with
//   posix_spawn and killed at the end (also when the test process crashes).
// - Env: one backend instance built from the factory table (memory, disk in
//   a fresh temp dir, redis with a unique key prefix, memory+disk tier, zstd
//   over disk), reopened on the same dir/prefix to simulate a restart, and
//   torn down (store, loops, temp dir) at the end of the test.
// - FakeClock: the Env's memory and disk backends tell time by it
//   (relay/storage/clock.hpp), so a test advances it instead of sleeping
//   until keep_for passes. Redis cannot be fooled: its TTLs run on the
//   server's clock.
// - Bodies that are generated, not held: the 64 MiB test never keeps the
//   whole body in memory, so RSS growth measures the backend alone.
//
// Environment: RELAY_STEST_TMPDIR puts the disk caches there (default
// /dev/shm when it is a roomy tmpfs, else the temp directory; a real disk
// is slower: the disk backend creates 512 directories per store);
// RELAY_STEST_LOG=debug|info|warn|error sets relay's log level (warn).
// redis-server must be on PATH.
#pragma once

#include <doctest/doctest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/storage/clock.hpp"
#include "relay/storage/maintenance.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

// --------------------------------------------------------------------------
// Event loops

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  asio::io_context& io() noexcept { return io_; }
  // Stops the loop and joins its thread; idempotent. Nothing runs on the
  // loop afterwards.
  void stop();

  // Runs task on the loop and waits for its result. Past limit the loop is
  // stopped (so the coroutine can never touch the caller's locals again)
  // and std::runtime_error is thrown: the test fails instead of hanging.
  template <class T>
  T run(asio::awaitable<T> task, Millis limit = 30s) {
    auto future = asio::co_spawn(io_, std::move(task), asio::use_future);
    if (future.wait_for(limit) != std::future_status::ready) {
      stop();
      throw std::runtime_error("storage test: an operation did not finish within " +
                               std::to_string(limit.count()) + " ms (loop stopped)");
    }
    return future.get();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
  bool stopped_ = false;
};

// --------------------------------------------------------------------------
// redis-server

class RedisServer {
 public:
  // port 0: pick a free one. Does not start the server.
  explicit RedisServer(int port = 0);
  ~RedisServer();  // kills the server if it is running
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Spawns redis-server and waits (<= 10 s) until it answers PING. Throws
  // std::runtime_error when it cannot be started.
  void start();
  // SIGKILL and reap: the connection of every client breaks at once.
  void kill();
  bool running() const noexcept { return pid_ > 0; }
  int port() const noexcept { return port_; }
  std::string url() const;  // redis://127.0.0.1:PORT/0

  // Inspection through a synchronous side connection (hiredis).
  std::vector<std::string> keys(const std::string& pattern) const;
  long long pttl(const std::string& key) const;  // -2 missing, -1 no TTL, else ms
  bool ping() const;

 private:
  int port_;
  int pid_ = -1;
  std::filesystem::path log_;
};

// The server the conformance cases share (started on first use, killed at exit).
RedisServer& shared_redis();
// A key prefix no other test (or earlier run) uses.
std::string unique_prefix();

// How many SIGPIPEs the process has received: relay does not ignore SIGPIPE,
// so a backend writing to a dead socket without MSG_NOSIGNAL would kill it.
// The suite counts them instead of dying.
std::uint64_t sigpipe_count() noexcept;

// --------------------------------------------------------------------------
// Time

// The real time plus an offset that only advance() changes: entries stamped
// with the real time (text_meta) age by exactly what a test advances.
// Copies of clock() share the offset; safe from any thread.
class FakeClock {
 public:
  Clock clock() const;
  void advance(std::chrono::nanoseconds by) noexcept;

 private:
  std::shared_ptr<std::atomic<std::int64_t>> offset_ns_ = std::make_shared<std::atomic<std::int64_t>>(0);
};

// --------------------------------------------------------------------------
// Backends

// sharded_memory: the memory store split in 16 shards, as with several threads.
enum class Kind { memory, sharded_memory, disk, redis, memory_disk, zstd_disk };
const char* kind_name(Kind kind) noexcept;

struct Options {
  std::uint64_t max_size = 0;         // memory/disk capacity; 0 = roomy
  std::uint64_t max_object_size = 0;  // 0 = unlimited
  std::uint64_t min_free_space = 0;   // disk
  std::uint64_t redis_chunk_size = 64 * KiB;
  std::string redis_url;              // empty: the shared server
  config::DiskVerify disk_verify = config::DiskVerify::FirstRead;
  std::filesystem::path dir_base;  // where the disk root goes; empty: /dev/shm if roomy, else the temp dir
};

// What a backend promises beyond the common contract.
struct Traits {
  bool evicts;            // bounded by max_size (not redis: TTL / Redis itself)
  bool body_in_memory;    // holds the body in process memory by design
  bool local_stats;       // entries / size_bytes describe the store exactly
  bool counts_expiry;     // Stats::expirations counts lazily dropped entries
};
Traits traits(Kind kind) noexcept;

class TempDir {
 public:
  explicit TempDir(const std::filesystem::path& base = {});
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

class Env {
 public:
  explicit Env(Kind kind, Options options = {}, int loops = 1);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  Kind kind() const noexcept { return kind_; }
  const Options& options() const noexcept { return options_; }
  Storage& store() { return *store_; }
  std::shared_ptr<Storage> shared() { return store_; }
  Loop& loop(std::size_t i = 0) { return *loops_.at(i); }
  // What the memory and disk backends tell time by (not Redis).
  FakeClock& clock() noexcept { return clock_; }

  template <class T>
  T run(asio::awaitable<T> task, Millis limit = 30s) {
    return loop().run(std::move(task), limit);
  }

  // Destroys the store object (a relay stopping).
  void close();
  // close() if open, then a new store object on the same dir / prefix (a
  // relay restarting), optionally with other options.
  void reopen(std::optional<Options> options = std::nullopt);
  // Another instance on the same dir / prefix, alive until the Env ends
  // (a second relay sharing the Redis server).
  std::shared_ptr<Storage> open_another();

  // disk root (disk, memory_disk, zstd_disk); empty for the others.
  std::filesystem::path disk_root() const;
  const std::string& redis_prefix() const noexcept { return prefix_; }
  std::string redis_url() const;

  config::DiskStorageConfig disk_config() const;
  config::RedisStorageConfig redis_config() const;

 private:
  std::shared_ptr<Storage> build();
  std::shared_ptr<Storage> build_backend();

  Kind kind_;
  Options options_;
  FakeClock clock_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::unique_ptr<TempDir> dir_;
  std::string prefix_;
  std::shared_ptr<Storage> store_;
  std::vector<std::shared_ptr<Storage>> others_;
};

// doctest type tags: TEST_CASE_TEMPLATE runs a case once per backend and
// names it "case<backend>" (filter with -tc='*<disk>*').
template <Kind K>
struct B {
  static constexpr Kind kind = K;
};
using Memory = B<Kind::memory>;
using ShardedMemory = B<Kind::sharded_memory>;
using Disk = B<Kind::disk>;
using Redis = B<Kind::redis>;
using MemoryDisk = B<Kind::memory_disk>;
using ZstdDisk = B<Kind::zstd_disk>;

// --------------------------------------------------------------------------
// Entries and bodies

// A head as the cache layer stores it: Content-Type text/plain (so the zstd
// decorator compresses it), X-Tag to tell versions apart, Content-Length
// when given, response_time now.
EntryMeta text_meta(const std::string& tag, std::optional<std::uint64_t> length = std::nullopt,
                    std::chrono::seconds keep_for = 0s);

// text_meta() whose keep_for (1 s) passed a minute ago.
EntryMeta expired_meta(const std::string& tag, std::uint64_t length);

// The store's sweep (disk and what wraps nothing around it); fails the test
// when the backend offers none.
std::shared_ptr<Maintainable> maintainable(Env& env);

// Deterministic bodies: random-looking bytes (incompressible, any byte
// value) or printable text (compressible).
std::string random_body(std::size_t size, std::uint64_t seed);
std::string text_body(std::size_t size, std::uint64_t seed);
// The bytes of the random body of seed at [offset, offset + out.size()).
void fill_random(std::span<char> out, std::uint64_t offset, std::uint64_t seed);

// put + write in pieces of `piece` bytes (the last ones smaller) + commit;
// the first failing step's error.
asio::awaitable<Result<void>> put_body(Storage& s, std::string key, EntryMeta meta, std::string body,
                                       std::size_t piece = 50'000);

struct Fetched {
  EntryMeta meta;
  std::string body;
  std::size_t reads = 0;        // non-empty chunks
  std::size_t max_chunk = 0;    // largest chunk
};
// get + read to the end. nullopt on a miss; an error when get or a read failed.
asio::awaitable<Result<std::optional<Fetched>>> get_body(Storage& s, std::string key);

// Reads what is left of a reader to its end.
asio::awaitable<Result<std::string>> drain(BodyReader& reader);

// The random body of seed streamed in 64 KiB writes, never held whole.
asio::awaitable<Result<void>> put_stream(Storage& s, std::string key, EntryMeta meta, std::uint64_t size,
                                         std::uint64_t seed);
struct StreamCheck {
  bool found = false;
  std::uint64_t bytes = 0;
  bool matches = true;          // every byte as generated
  std::size_t max_chunk = 0;
  std::uint64_t meta_size = 0;  // meta.body_size of the hit
};
asio::awaitable<Result<StreamCheck>> read_stream(Storage& s, std::string key, std::uint64_t seed);

// --------------------------------------------------------------------------
// Process and files

// /proc/self/status field in bytes (VmRSS, VmHWM).
std::uint64_t proc_status_bytes(const char* field);
// Resets VmHWM to the current RSS (/proc/self/clear_refs); false if refused.
bool reset_peak_rss();
// Peak RSS growth while fn runs: VmHWM (reset first) and a 2 ms sampler.
std::uint64_t peak_rss_growth(const std::function<void()>& fn);

// Regular files under dir, recursively (0 if it does not exist).
std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir);
std::size_t count_files(const std::filesystem::path& dir);
// Their bytes, added up (a file removed while counting counts as gone).
std::uint64_t total_size(const std::filesystem::path& dir);

// prefix + decimal n, out of line (GCC 12 -O3 warns falsely on "x" + to_string).
std::string numbered(std::string_view prefix, std::int64_t n);

double seconds_since(std::chrono::steady_clock::time_point start);

// "got 12 bytes, expected 13; first difference at byte 4" (bodies are too
// large to print).
std::string body_diff(const std::string& got, const std::string& want);

// The X-Tag that text_meta() set, or "<none>".
std::string tag_of(const EntryMeta& meta);

// Synchronous steps for test bodies: a failed put or get fails the test.
void must_put(Env& env, const std::string& key, EntryMeta meta, const std::string& body);
std::optional<Fetched> must_fetch(Env& env, const std::string& key);
// True for a clean miss (no entry, no error).
bool is_miss(Env& env, const std::string& key);

}  // namespace relay::storage::test

// Compares bodies without printing them.
#define CHECK_BODY(got, want) CHECK_MESSAGE(bool((got) == (want)), relay::storage::test::body_diff((got), (want)))
#define REQUIRE_BODY(got, want) \
  REQUIRE_MESSAGE(bool((got) == (want)), relay::storage::test::body_diff((got), (want)))


TYPE_TO_STRING_AS("memory", relay::storage::test::Memory);
TYPE_TO_STRING_AS("sharded memory", relay::storage::test::ShardedMemory);
TYPE_TO_STRING_AS("disk", relay::storage::test::Disk);
TYPE_TO_STRING_AS("redis", relay::storage::test::Redis);
TYPE_TO_STRING_AS("memory+disk", relay::storage::test::MemoryDisk);
TYPE_TO_STRING_AS("zstd+disk", relay::storage::test::ZstdDisk);

// Backend lists for TEST_CASE_TEMPLATE.
#define STORAGE_ALL_BACKENDS                                                                   \
  relay::storage::test::Memory, relay::storage::test::ShardedMemory, relay::storage::test::Disk, \
      relay::storage::test::Redis, relay::storage::test::MemoryDisk, relay::storage::test::ZstdDisk
// Bounded by max_size (Redis is bounded by TTL and by Redis itself).
#define STORAGE_EVICTING_BACKENDS                                                              \
  relay::storage::test::Memory, relay::storage::test::ShardedMemory, relay::storage::test::Disk, \
      relay::storage::test::MemoryDisk, relay::storage::test::ZstdDisk
