// The storage suite's machinery (see support.hpp): the backend factory
// table, the redis-server fixture, event loops, generated bodies and the
// process/file probes. No test cases here.
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "support.hpp"
#include "relay/storage/compressed_store.hpp"
#include "relay/storage/disk_store.hpp"
#include "relay/storage/memory_lru.hpp"
#include "relay/storage/redis_store.hpp"
#include "relay/storage/size_limited_store.hpp"
#include "relay/storage/tiered_store.hpp"
#include "relay/util/log.hpp"

extern char** environ;

namespace relay::storage::test {
namespace fs = std::filesystem;

// --------------------------------------------------------------------------
// Children killed on a crash, SIGPIPE counted

namespace {

constexpr std::size_t max_children = 32;
std::array<std::atomic<int>, max_children> g_children{};
std::atomic<std::uint64_t> g_sigpipes{0};

void kill_children() noexcept {
  for (auto& c : g_children) {
    int pid = c.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
}

extern "C" void on_fatal_signal(int sig) {
  kill_children();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

extern "C" void on_sigpipe(int) { g_sigpipes.fetch_add(1); }

// Installed before doctest runs, so doctest's own crash handlers chain to
// these (it restores the previous handler and re-raises).
struct SignalSetup {
  SignalSetup() {
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_fatal_signal;
    for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
    sa.sa_handler = on_sigpipe;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPIPE, &sa, nullptr);
    // Backends log at info (recovery summaries); keep the report readable.
    const char* level = std::getenv("RELAY_STEST_LOG");
    log::set_level(log::parse_level(level != nullptr ? level : "warn"));
  }
} const signal_setup;

void track_child(int pid) {
  for (auto& c : g_children) {
    int expected = 0;
    if (c.compare_exchange_strong(expected, pid)) return;
  }
}

void untrack_child(int pid) {
  for (auto& c : g_children) {
    int expected = pid;
    if (c.compare_exchange_strong(expected, 0)) return;
  }
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a free 127.0.0.1 port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string tail_of(const fs::path& path, std::size_t max_bytes = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  return text;
}

// A synchronous side connection to inspect the server; null on failure.
struct SideConnection {
  redisContext* c = nullptr;
  explicit SideConnection(int port) {
    timeval tv{1, 0};
    c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != nullptr && c->err != 0) {
      redisFree(c);
      c = nullptr;
    }
    if (c != nullptr) redisSetTimeout(c, tv);
  }
  ~SideConnection() {
    if (c != nullptr) redisFree(c);
  }
  SideConnection(const SideConnection&) = delete;
  SideConnection& operator=(const SideConnection&) = delete;

  redisReply* command(const std::vector<std::string>& argv) {
    if (c == nullptr) return nullptr;
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    return static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
  }
};

}  // namespace

std::uint64_t sigpipe_count() noexcept { return g_sigpipes.load(); }

// --------------------------------------------------------------------------
// Loop

Loop::Loop() : guard_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        // A detached coroutine of a backend threw: report, keep the loop alive.
        std::fprintf(stderr, "storage test: exception escaped the event loop: %s\n", e.what());
      }
    }
  });
}

Loop::~Loop() { stop(); }

void Loop::stop() {
  if (stopped_) return;
  stopped_ = true;
  guard_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

// --------------------------------------------------------------------------
// RedisServer

RedisServer::RedisServer(int port) : port_(port) {}

RedisServer::~RedisServer() {
  kill();
  std::error_code ec;
  if (!log_.empty()) fs::remove(log_, ec);
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

void RedisServer::start() {
  if (running()) return;
  if (port_ == 0) port_ = free_port();
  std::error_code ec;
  auto tmp = fs::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  log_ = tmp / ("relay-stest-redis-" + std::to_string(::getpid()) + "-" + std::to_string(port_) + ".log");

  const std::string port = std::to_string(port_);
  const std::string dir = tmp.string();
  std::vector<std::string> args = {"redis-server", "--port", port,  "--bind",      "127.0.0.1",
                                   "--save",       "",       "--appendonly", "no",  "--daemonize",
                                   "no",           "--dir",  dir,    "--logfile", "",
                                   "--loglevel",   "warning"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "redis-server", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error(std::string("cannot start redis-server (is it installed and on PATH?): ") +
                             std::strerror(rc));
  }
  pid_ = pid;
  track_child(pid_);

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      untrack_child(pid_);
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start on port " + port + ":\n" + tail_of(log_));
    }
    if (ping()) return;
    std::this_thread::sleep_for(50ms);
  }
  kill();
  throw std::runtime_error("redis-server did not answer PING within 10 s on port " + port + ":\n" + tail_of(log_));
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  untrack_child(pid_);
  pid_ = -1;
}

bool RedisServer::ping() const {
  SideConnection side(port_);
  auto* reply = side.command({"PING"});
  bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS && std::string(reply->str, reply->len) == "PONG";
  if (reply != nullptr) freeReplyObject(reply);
  return ok;
}

std::vector<std::string> RedisServer::keys(const std::string& pattern) const {
  SideConnection side(port_);
  auto* reply = side.command({"KEYS", pattern});
  if (reply == nullptr) throw std::runtime_error("redis KEYS failed");
  std::vector<std::string> out;
  if (reply->type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i < reply->elements; ++i) {
      auto* e = reply->element[i];
      if (e->type == REDIS_REPLY_STRING) out.emplace_back(e->str, e->len);
    }
  }
  freeReplyObject(reply);
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t count_files(const fs::path& dir) { return files_under(dir).size(); }

long long RedisServer::pttl(const std::string& key) const {
  SideConnection side(port_);
  auto* reply = side.command({"PTTL", key});
  if (reply == nullptr) throw std::runtime_error("redis PTTL failed");
  long long v = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -3;
  freeReplyObject(reply);
  return v;
}

RedisServer& shared_redis() {
  static RedisServer server;
  if (!server.running()) server.start();
  return server;
}

std::string unique_prefix() {
  static std::atomic<int> counter{0};
  return "stest:" + std::to_string(::getpid()) + ":" + std::to_string(counter.fetch_add(1)) + ":";
}

// --------------------------------------------------------------------------
// Backends

const char* kind_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::memory: return "memory";
    case Kind::sharded_memory: return "sharded memory";
    case Kind::disk: return "disk";
    case Kind::redis: return "redis";
    case Kind::memory_disk: return "memory+disk";
    case Kind::zstd_disk: return "zstd+disk";
  }
  return "?";
}

Traits traits(Kind kind) noexcept {
  switch (kind) {
    case Kind::memory:
    case Kind::sharded_memory: return {true, true, true, true};
    case Kind::disk: return {true, false, true, true};
    case Kind::redis: return {false, false, false, false};
    case Kind::memory_disk: return {true, false, true, true};
    case Kind::zstd_disk: return {true, false, true, true};
  }
  return {};
}

namespace {

// Where disk caches live: $RELAY_STEST_TMPDIR, else /dev/shm when it is a
// roomy tmpfs (the disk backend creates 512 fan-out directories per store,
// which takes seconds on some virtual disks), else the temp directory.
fs::path temp_base() {
  std::error_code ec;
  if (const char* env = std::getenv("RELAY_STEST_TMPDIR"); env != nullptr && *env != '\0') return env;
  const fs::path shm = "/dev/shm";
  if (fs::is_directory(shm, ec) && ::access(shm.c_str(), W_OK) == 0) {
    auto space = fs::space(shm, ec);
    if (!ec && space.available >= 2048 * MiB) return shm;
  }
  auto tmp = fs::temp_directory_path(ec);
  return ec ? fs::path("/tmp") : tmp;
}

}  // namespace

TempDir::TempDir(const fs::path& base_dir) {
  const auto base = base_dir.empty() ? temp_base() : base_dir;
  std::string pattern = (base / "relay-stest-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Clock FakeClock::clock() const {
  return [offset = offset_ns_] {
    return std::chrono::system_clock::now() + std::chrono::duration_cast<SysTime::duration>(
                                                   std::chrono::nanoseconds(offset->load()));
  };
}

void FakeClock::advance(std::chrono::nanoseconds by) noexcept { *offset_ns_ += by.count(); }

Env::Env(Kind kind, Options options, int loops) : kind_(kind), options_(std::move(options)) {
  for (int i = 0; i < std::max(1, loops); ++i) loops_.push_back(std::make_unique<Loop>());
  if (kind_ == Kind::disk || kind_ == Kind::memory_disk || kind_ == Kind::zstd_disk)
    dir_ = std::make_unique<TempDir>(options_.dir_base);
  if (kind_ == Kind::redis) prefix_ = unique_prefix();
  store_ = build();
}

Env::~Env() {
  // Loops first, so nothing runs while the stores go away; io_contexts last.
  for (auto& loop : loops_) loop->stop();
  others_.clear();
  store_.reset();
  loops_.clear();
  dir_.reset();
}

void Env::close() { store_.reset(); }

void Env::reopen(std::optional<Options> options) {
  close();
  if (options) options_ = std::move(*options);
  store_ = build();
}

std::shared_ptr<Storage> Env::open_another() {
  auto s = build();
  others_.push_back(s);
  return s;
}

fs::path Env::disk_root() const { return dir_ ? dir_->path() / "cache" : fs::path{}; }

std::string Env::redis_url() const { return options_.redis_url.empty() ? shared_redis().url() : options_.redis_url; }

config::DiskStorageConfig Env::disk_config() const {
  config::DiskStorageConfig c;
  c.path = disk_root().string();
  c.max_size = options_.max_size != 0 ? options_.max_size : 4096 * MiB;
  c.min_free_space = options_.min_free_space;
  c.io_threads = 2;
  c.verify = options_.disk_verify;
  return c;
}

config::RedisStorageConfig Env::redis_config() const {
  config::RedisStorageConfig c;
  c.url = config::RedisUrl::parse(redis_url());
  c.key_prefix = prefix_;
  c.connect_timeout = 1000ms;
  c.command_timeout = 500ms;
  c.chunk_size = options_.redis_chunk_size;
  return c;
}

// max_object_size is enforced around the whole stack, as make_storage does.
std::shared_ptr<Storage> Env::build() { return make_size_limited_store(build_backend(), options_.max_object_size); }

std::shared_ptr<Storage> Env::build_backend() {
  const auto limit = options_.max_object_size;
  switch (kind_) {
    case Kind::memory:
      return std::make_shared<MemoryLru>(options_.max_size != 0 ? options_.max_size : 1024 * MiB, Eviction::lru,
                                         clock_.clock());
    case Kind::sharded_memory:
      return std::make_shared<MemoryLru>(options_.max_size != 0 ? options_.max_size : 1024 * MiB, Eviction::lru,
                                         clock_.clock(), 16);
    case Kind::disk:
      return make_disk_store(disk_config(), clock_.clock());
    case Kind::redis:
      return make_redis_store(redis_config());
    case Kind::memory_disk: {
      // The upper level keeps small objects only, as a real tier would; a
      // 64 MiB body then stays bounded in memory (it streams from disk).
      const std::uint64_t upper_limit = limit != 0 ? std::min<std::uint64_t>(limit, 4 * MiB) : 4 * MiB;
      auto upper = std::make_shared<MemoryLru>(options_.max_size != 0 ? options_.max_size : 64 * MiB, Eviction::lru,
                                               clock_.clock());
      return make_tiered_store(make_size_limited_store(std::move(upper), upper_limit),
                               make_disk_store(disk_config(), clock_.clock()));
    }
    case Kind::zstd_disk: {
      config::StorageConfig sc;
      sc.backend = config::StorageBackend::Disk;
      sc.compression = config::Compression::Zstd;
      sc.disk = disk_config();
      return make_compressed_store(make_disk_store(disk_config(), clock_.clock()), sc);
    }
  }
  throw std::logic_error("unknown backend kind");
}

// --------------------------------------------------------------------------
// Entries and bodies

EntryMeta text_meta(const std::string& tag, std::optional<std::uint64_t> length, std::chrono::seconds keep_for) {
  EntryMeta meta;
  meta.status = 200;
  meta.reason = "OK";
  meta.headers.add("Content-Type", "text/plain; charset=utf-8");
  meta.headers.add("X-Tag", tag);
  if (length) meta.headers.add("Content-Length", std::to_string(*length));
  meta.request_time = std::chrono::system_clock::now();
  meta.response_time = meta.request_time;
  meta.keep_for = keep_for;
  return meta;
}

EntryMeta expired_meta(const std::string& tag, std::uint64_t length) {
  auto meta = text_meta(tag, length, 1s);
  meta.request_time = std::chrono::system_clock::now() - 60s;
  meta.response_time = meta.request_time;
  return meta;
}

std::shared_ptr<Maintainable> maintainable(Env& env) {
  auto m = std::dynamic_pointer_cast<Maintainable>(env.shared());
  REQUIRE_MESSAGE(m != nullptr, "the " << kind_name(env.kind()) << " store offers no sweep");
  return m;
}

namespace {

std::uint64_t mix(std::uint64_t seed, std::uint64_t word) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + word * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

void fill_random(std::span<char> out, std::uint64_t offset, std::uint64_t seed) {
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t pos = offset + i;
    const std::uint64_t word = mix(seed, pos / 8);
    const std::size_t first = static_cast<std::size_t>(pos % 8);
    const std::size_t n = std::min<std::size_t>(8 - first, out.size() - i);
    for (std::size_t k = 0; k < n; ++k) out[i + k] = static_cast<char>((word >> (8 * (first + k))) & 0xff);
    i += n;
  }
}

std::string random_body(std::size_t size, std::uint64_t seed) {
  std::string body(size, '\0');
  fill_random(body, 0, seed);
  return body;
}

std::string text_body(std::size_t size, std::uint64_t seed) {
  static constexpr std::array<std::string_view, 12> words = {
      "relay", "cache", "proxy", "storage", "body", "header", "origin", "disk", "redis", "stream", "chunk", "zstd"};
  std::string out;
  out.reserve(size + 16);
  std::uint64_t i = 0;
  while (out.size() < size) {
    auto r = mix(seed, i++);
    out += words[r % words.size()];
    out += (r >> 8) % 9 == 0 ? '\n' : ' ';
  }
  out.resize(size);
  return out;
}

asio::awaitable<Result<void>> put_body(Storage& s, std::string key, EntryMeta meta, std::string body,
                                       std::size_t piece) {
  auto writer = co_await s.put(key, std::move(meta));
  if (!writer) co_return writer.error();
  // Odd piece sizes too, so chunk boundaries fall everywhere.
  const std::size_t pattern[] = {1, piece, piece / 3 + 7, piece};
  std::size_t offset = 0;
  for (std::size_t i = 0; offset < body.size(); ++i) {
    const std::size_t n = std::min(std::max<std::size_t>(1, pattern[i % 4]), body.size() - offset);
    if (auto r = co_await (*writer)->write(std::span<const char>(body.data() + offset, n)); !r) co_return r.error();
    offset += n;
  }
  co_return co_await (*writer)->commit();
}

asio::awaitable<Result<std::optional<Fetched>>> get_body(Storage& s, std::string key) {
  auto hit = co_await s.get(key);
  if (!hit) co_return hit.error();
  if (!*hit) co_return std::optional<Fetched>{};
  Fetched f;
  f.meta = (*hit)->meta;
  for (;;) {
    auto chunk = co_await (*hit)->body->read();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) break;
    ++f.reads;
    f.max_chunk = std::max(f.max_chunk, chunk->size());
    f.body.append(chunk->data(), chunk->size());
  }
  co_return std::optional<Fetched>{std::move(f)};
}

asio::awaitable<Result<std::string>> drain(BodyReader& reader) {
  std::string out;
  for (;;) {
    auto chunk = co_await reader.read();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) co_return out;
    out.append(chunk->data(), chunk->size());
  }
}

asio::awaitable<Result<void>> put_stream(Storage& s, std::string key, EntryMeta meta, std::uint64_t size,
                                         std::uint64_t seed) {
  auto writer = co_await s.put(key, std::move(meta));
  if (!writer) co_return writer.error();
  std::vector<char> buffer(64 * KiB);
  for (std::uint64_t offset = 0; offset < size;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - offset));
    fill_random(std::span<char>(buffer.data(), n), offset, seed);
    if (auto r = co_await (*writer)->write(std::span<const char>(buffer.data(), n)); !r) co_return r.error();
    offset += n;
  }
  co_return co_await (*writer)->commit();
}

asio::awaitable<Result<StreamCheck>> read_stream(Storage& s, std::string key, std::uint64_t seed) {
  StreamCheck check;
  auto hit = co_await s.get(key);
  if (!hit) co_return hit.error();
  if (!*hit) co_return check;
  check.found = true;
  check.meta_size = (*hit)->meta.body_size;
  std::vector<char> expected(64 * KiB);
  for (;;) {
    auto chunk = co_await (*hit)->body->read();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) break;
    check.max_chunk = std::max(check.max_chunk, chunk->size());
    for (std::size_t done = 0; done < chunk->size() && check.matches;) {
      const std::size_t n = std::min(expected.size(), chunk->size() - done);
      fill_random(std::span<char>(expected.data(), n), check.bytes + done, seed);
      if (std::memcmp(expected.data(), chunk->data() + done, n) != 0) check.matches = false;
      done += n;
    }
    check.bytes += chunk->size();
  }
  co_return check;
}

// --------------------------------------------------------------------------
// Process and files

std::uint64_t proc_status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string want = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(want, 0) == 0) {
      std::istringstream rest(line.substr(want.size()));
      std::uint64_t kb = 0;
      rest >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return bool(out);
}

std::uint64_t peak_rss_growth(const std::function<void()>& fn) {
  ::malloc_trim(0);
  const std::uint64_t base = proc_status_bytes("VmRSS");
  const bool reset = reset_peak_rss() && proc_status_bytes("VmHWM") <= base + 4 * MiB;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> sampled{base};
  std::thread sampler([&] {
    while (!done.load()) {
      auto now = proc_status_bytes("VmRSS");
      if (now > sampled.load()) sampled.store(now);
      std::this_thread::sleep_for(2ms);
    }
  });
  try {
    fn();
  } catch (...) {
    done = true;
    sampler.join();
    throw;
  }
  done = true;
  sampler.join();
  std::uint64_t peak = sampled.load();
  if (reset) peak = std::max(peak, proc_status_bytes("VmHWM"));
  return peak > base ? peak - base : 0;
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t total_size(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& f : files_under(dir)) {
    std::error_code ec;
    auto size = fs::file_size(f, ec);
    if (!ec) total += size;  // a file removed meanwhile counts as gone
  }
  return total;
}

std::string numbered(std::string_view prefix, std::int64_t n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string body_diff(const std::string& got, const std::string& want) {
  std::ostringstream out;
  out << "body: got " << got.size() << " bytes, expected " << want.size();
  auto [a, b] = std::mismatch(got.begin(), got.end(), want.begin(), want.end());
  if (a != got.end() || b != want.end()) out << "; first difference at byte " << (a - got.begin());
  return out.str();
}

void must_put(Env& env, const std::string& key, EntryMeta meta, const std::string& body) {
  auto r = env.run(put_body(env.store(), key, std::move(meta), body));
  REQUIRE_MESSAGE(r.has_value(), "storing " << key << " failed: " << r.error().message());
}

std::optional<Fetched> must_fetch(Env& env, const std::string& key) {
  auto r = env.run(get_body(env.store(), key));
  REQUIRE_MESSAGE(r.has_value(), "reading " << key << " failed: " << r.error().message());
  return std::move(*r);
}

std::string tag_of(const EntryMeta& meta) { return std::string(meta.headers.get("x-tag").value_or("<none>")); }

bool is_miss(Env& env, const std::string& key) {
  auto r = env.run(get_body(env.store(), key));
  return r.has_value() && !r->has_value();
}

}  // namespace relay::storage::test
