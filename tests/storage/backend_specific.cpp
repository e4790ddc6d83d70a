// What one backend promises beyond the shared contract: disk (dedup,
// restart, start-up cleanup, integrity, free space), redis (sharing between
// instances, TTLs, outages), the memory+disk tier and zstd at rest.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "support.hpp"
#include "relay/storage/disk_store.hpp"
#include "relay/storage/memory_lru.hpp"
#include "relay/storage/redis_store.hpp"
#include "relay/storage/size_limited_store.hpp"
#include "relay/storage/tiered_store.hpp"

using namespace relay;
using namespace relay::storage;
using namespace relay::storage::test;
namespace fs = std::filesystem;

namespace {

using Steady = std::chrono::steady_clock;



void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE_MESSAGE(bool(out), "cannot write " << path);
}

// Polls pred for up to limit; true as soon as it holds.
template <class Pred>
bool eventually(Pred pred, Millis limit = 2s) {
  const auto deadline = Steady::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// What a read of a possibly damaged entry delivered.
struct Attempt {
  bool get_failed = false;
  bool hit = false;
  bool read_failed = false;
  std::string body;
  std::string error;
};

asio::awaitable<Attempt> attempt_read(Storage& s, std::string key) {
  Attempt a;
  auto hit = co_await s.get(key);
  if (!hit) {
    a.get_failed = true;
    a.error = hit.error().message();
    co_return a;
  }
  if (!*hit) co_return a;
  a.hit = true;
  for (;;) {
    auto chunk = co_await (*hit)->body->read();
    if (!chunk) {
      a.read_failed = true;
      a.error = chunk.error().message();
      co_return a;
    }
    if (chunk->empty()) co_return a;
    a.body.append(chunk->data(), chunk->size());
  }
}

// A successful, complete read must be the original bytes: damage may show
// as a miss or a failed read, never as a body that reads to its end. And
// since every block is verified before it is handed out, whatever a failed
// read delivered before failing is the original too.
void check_never_served_damaged(const Attempt& a, const std::string& original) {
  INFO("get_failed=" << a.get_failed << " hit=" << a.hit << " read_failed=" << a.read_failed << " error="
                     << a.error << " delivered=" << a.body.size() << " bytes");
  const bool complete = a.hit && !a.read_failed;
  CHECK_MESSAGE(!(complete && a.body != original), "a damaged body was served as a complete, successful read");
  CHECK_MESSAGE(original.compare(0, a.body.size(), a.body) == 0, "a failed read delivered damaged bytes first");
}

}  // namespace

// ==========================================================================
// disk

TEST_CASE("disk: identical bodies under two keys are stored once") {
  Env env(Kind::disk);
  const auto objects = env.disk_root() / "objects";
  const std::string body = random_body(200'000, 101);
  must_put(env, "a", text_meta("a", body.size()), body);
  must_put(env, "b", text_meta("b", body.size()), body);
  CHECK(count_files(objects) == 1);
  CHECK(count_files(env.disk_root() / "meta") == 2);

  auto a = must_fetch(env, "a");
  auto b = must_fetch(env, "b");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(tag_of(a->meta) == "a");
  CHECK(tag_of(b->meta) == "b");
  CHECK_BODY(a->body, body);
  CHECK_BODY(b->body, body);

  REQUIRE(env.run(env.store().remove("a")).value());
  CHECK(is_miss(env, "a"));
  auto still = must_fetch(env, "b");
  REQUIRE_MESSAGE(still.has_value(), "removing one key lost the body the other key shares");
  CHECK_BODY(still->body, body);
  CHECK(count_files(objects) == 1);

  // A third key with the same body after the first went away.
  must_put(env, "c", text_meta("c", body.size()), body);
  CHECK(count_files(objects) == 1);

  REQUIRE(env.run(env.store().remove("b")).value());
  REQUIRE(env.run(env.store().remove("c")).value());
  WARN_MESSAGE(eventually([&] { return count_files(objects) == 0; }),
               "the body file outlives the last key that named it (until the next start)");
  env.reopen();
  CHECK_MESSAGE(count_files(objects) == 0, "an unreferenced body survived a restart");
}

TEST_CASE("disk: entries survive a restart") {
  Env env(Kind::disk);
  const std::string big = random_body(300'000, 111);
  const std::string v1 = text_body(10'000, 112);
  const std::string v2 = text_body(12'000, 113);
  auto big_meta = text_meta("big", big.size(), std::chrono::seconds(3600));
  big_meta.headers.add("X-Dup", "1");
  big_meta.headers.add("X-Dup", "2");
  must_put(env, "big", big_meta, big);
  must_put(env, "replaced", text_meta("v1", v1.size()), v1);
  must_put(env, "replaced", text_meta("v2", v2.size()), v2);
  must_put(env, "removed", text_meta("r", 7), "removed");
  REQUIRE(env.run(env.store().remove("removed")).value());
  must_put(env, "empty", text_meta("e", 0), "");
  const auto before = env.store().stats();

  env.reopen();  // a relay restart: a new store object on the same directory
  auto stats = env.store().stats();
  CHECK(stats.entries == before.entries);
  CHECK(stats.entries == 3);
  CHECK(stats.size_bytes == before.size_bytes);

  auto got = must_fetch(env, "big");
  REQUIRE_MESSAGE(got.has_value(), "an entry did not survive the restart");
  CHECK(tag_of(got->meta) == "big");
  CHECK(got->meta.headers.get_combined("x-dup") == "1, 2");
  CHECK(got->meta.keep_for == std::chrono::seconds(3600));
  auto drift = got->meta.response_time - big_meta.response_time;
  CHECK(std::chrono::abs(drift) <= std::chrono::seconds(1));
  CHECK(got->meta.body_size == big.size());
  CHECK_BODY(got->body, big);

  auto replaced = must_fetch(env, "replaced");
  REQUIRE(replaced.has_value());
  CHECK(tag_of(replaced->meta) == "v2");
  CHECK_BODY(replaced->body, v2);
  CHECK(is_miss(env, "removed"));
  auto empty = must_fetch(env, "empty");
  REQUIRE(empty.has_value());
  CHECK(empty->body.empty());
  CHECK_MESSAGE(count_files(env.disk_root() / "objects") == 3, "big, v2 and the empty body; v1 and 'removed' gone");

  // A head updated after the restart survives the next one.
  auto meta = text_meta("big-2", big.size(), std::chrono::seconds(3600));
  REQUIRE(env.run(env.store().update_meta("big", meta)).has_value());
  env.reopen();
  auto updated = must_fetch(env, "big");
  REQUIRE(updated.has_value());
  CHECK(tag_of(updated->meta) == "big-2");
  CHECK_BODY(updated->body, big);
}

TEST_CASE("disk: start-up removes tmp/ debris, orphan bodies and broken records") {
  Env env(Kind::disk);
  const auto root = env.disk_root();
  const std::string body = random_body(50'000, 121);
  must_put(env, "kept", text_meta("kept", body.size()), body);
  const auto kept_object = files_under(root / "objects");
  REQUIRE(kept_object.size() == 1);
  env.close();

  // What a crash leaves behind.
  write_file(root / "tmp" / "body.123456", random_body(30'000, 122));
  write_file(root / "tmp" / "meta.abcdef", "half a record");
  write_file(root / "tmp" / "nested" / "deeper", "x");
  const auto orphan = root / "objects" / "ab" / std::string(62, '0');  // a body no record names
  write_file(orphan, "orphan bytes");
  const auto broken = root / "meta" / "cd" / std::string(62, '1');  // not a record at all
  write_file(broken, "garbage, not a record");

  env.reopen();
  CHECK_MESSAGE(files_under(root / "tmp").empty(), "tmp/ is not empty after start");
  std::error_code ec;
  CHECK_FALSE(fs::exists(root / "tmp" / "nested", ec));
  CHECK_MESSAGE(!fs::exists(orphan, ec), "an orphan body survived the start");
  CHECK_MESSAGE(!fs::exists(broken, ec), "a broken record survived the start");
  CHECK(files_under(root / "objects") == kept_object);
  CHECK(count_files(root / "meta") == 1);

  auto kept = must_fetch(env, "kept");
  REQUIRE(kept.has_value());
  CHECK_BODY(kept->body, body);
  CHECK(env.store().stats().entries == 1);
}

TEST_CASE("disk: a corrupted body is never served as a successful read") {
  Env env(Kind::disk);
  const auto objects = env.disk_root() / "objects";
  std::string body;
  bool flips = true;
  std::function<void(const fs::path&)> damage;

  SUBCASE("bytes flipped in a multi-chunk body") {
    body = random_body(300'000, 131);
    damage = [](const fs::path& p) {
      std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
      for (std::streamoff at : {1'000, 250'000}) {
        f.seekg(at);
        char c = 0;
        f.get(c);
        f.seekp(at);
        f.put(static_cast<char>(c ^ 0x5a));
      }
    };
  }
  SUBCASE("one byte flipped in a single-chunk body") {
    body = text_body(1'000, 132);
    damage = [](const fs::path& p) {
      std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(500);
      char c = 0;
      f.get(c);
      f.seekp(500);
      f.put(static_cast<char>(c ^ 0x01));
    };
  }
  SUBCASE("truncated body") {
    flips = false;
    body = random_body(300'000, 133);
    damage = [](const fs::path& p) { fs::resize_file(p, 100'000); };
  }

  must_put(env, "k", text_meta("k", body.size()), body);
  auto files = files_under(objects);
  REQUIRE(files.size() == 1);
  damage(files.front());
  const auto failures_before = env.store().stats().integrity_failures;

  auto first = env.run(attempt_read(env.store(), "k"));
  check_never_served_damaged(first, body);
  if (flips) {
    CHECK_MESSAGE(env.store().stats().integrity_failures > failures_before,
                  "a body that no longer matches its hash was not counted in integrity_failures");
  }
  auto second = env.run(attempt_read(env.store(), "k"));
  check_never_served_damaged(second, body);

  // Storing the same bytes again must not reuse the damaged file.
  must_put(env, "k", text_meta("k2", body.size()), body);
  must_put(env, "other", text_meta("other", body.size()), body);
  for (const char* key : {"k", "other"}) {
    CAPTURE(key);
    auto got = env.run(get_body(env.store(), key));
    REQUIRE_MESSAGE(got.has_value(), "re-stored body unreadable: " << got.error().message());
    REQUIRE_MESSAGE(got->has_value(), "re-stored body missing");
    CHECK_BODY((*got)->body, body);
  }
}

TEST_CASE("disk: below min_free_space puts fail and gets keep working") {
  Env env(Kind::disk);
  const std::string body = random_body(40'000, 141);
  must_put(env, "old", text_meta("old", body.size()), body);

  auto tight = env.options();
  tight.min_free_space = std::uint64_t{1} << 60;  // more than any disk has free
  env.reopen(tight);
  auto r = env.run(put_body(env.store(), "new", text_meta("new", body.size()), body));
  REQUIRE_FALSE_MESSAGE(r.has_value(), "a put succeeded below min_free_space");
  CHECK_MESSAGE(r.error() == make_error_code(Errc::storage_unavailable), r.error().message());
  CHECK(is_miss(env, "new"));

  auto old = must_fetch(env, "old");
  REQUIRE_MESSAGE(old.has_value(), "gets must keep working when the disk is full");
  CHECK_BODY(old->body, body);
  auto removed = env.run(env.store().remove("old"));
  CHECK(removed.has_value());
}

TEST_CASE("disk: an aborted write leaves nothing behind") {
  Env env(Kind::disk);
  const auto root = env.disk_root();
  const std::string partial = random_body(200'000, 151);
  auto r = env.run([&]() -> asio::awaitable<Result<void>> {
    auto writer = co_await env.store().put("k", text_meta("k", 400'000));
    if (!writer) co_return writer.error();
    co_return co_await (*writer)->write(std::span<const char>(partial.data(), partial.size()));
  }());
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  CHECK(is_miss(env, "k"));
  CHECK_MESSAGE(eventually([&] { return files_under(root / "tmp").empty(); }), "tmp/ keeps the aborted body");
  CHECK(count_files(root / "objects") == 0);
  CHECK(count_files(root / "meta") == 0);
}

TEST_CASE("disk: far-future entries survive a restart") {
  Env env(Kind::disk);
  const std::string body = random_body(10'000, 163);
  must_put(env, "far", text_meta("far", body.size(), std::chrono::seconds(300LL * 365 * 86400)), body);
  env.reopen();
  auto got = must_fetch(env, "far");
  REQUIRE_MESSAGE(got.has_value(), "recovery dropped a far-future entry as expired");
  CHECK_BODY(got->body, body);
}

TEST_CASE("disk: expired entries are dropped at start") {
  Env env(Kind::disk);
  const std::string body = random_body(10'000, 161);
  auto old = text_meta("old", body.size(), std::chrono::seconds(5));
  old.request_time = std::chrono::system_clock::now() - std::chrono::seconds(20);
  old.response_time = old.request_time;
  (void)env.run(put_body(env.store(), "expired", old, body));
  must_put(env, "live", text_meta("live", body.size(), std::chrono::seconds(3600)), body);
  env.reopen();
  CHECK(is_miss(env, "expired"));
  CHECK(must_fetch(env, "live").has_value());
  CHECK(count_files(env.disk_root() / "meta") == 1);
  CHECK(env.store().stats().entries == 1);
}

TEST_CASE("disk: an unusable path is refused at start") {
  TempDir dir;
  const auto file = dir.path() / "a-file";
  write_file(file, "not a directory");
  config::DiskStorageConfig cfg;
  cfg.path = (file / "cache").string();
  cfg.min_free_space = 0;
  CHECK_THROWS_AS(make_disk_store(cfg), std::runtime_error);
  cfg.path = file.string();
  CHECK_THROWS_AS(make_disk_store(cfg), std::runtime_error);
}

// ==========================================================================
// memory+disk tier

namespace {

// A tier whose levels the test can reach directly.
struct Tier {
  Loop loop;
  TempDir dir;
  std::shared_ptr<MemoryLru> upper = std::make_shared<MemoryLru>(64 * MiB);
  std::shared_ptr<Storage> lower;
  std::shared_ptr<Storage> tier;

  Tier() {
    config::DiskStorageConfig cfg;
    cfg.path = (dir.path() / "cache").string();
    cfg.min_free_space = 0;
    lower = make_disk_store(cfg);
    tier = make_tiered_store(make_size_limited_store(upper, 4 * MiB), lower);
  }
  ~Tier() {
    loop.stop();
    tier.reset();
    lower.reset();
  }
  template <class T>
  T run(asio::awaitable<T> t) {
    return loop.run(std::move(t));
  }
  bool has(Storage& s, const std::string& key) {
    auto r = run(get_body(s, key));
    return r.has_value() && r->has_value();
  }
};

}  // namespace

TEST_CASE("memory+disk: a lower hit is copied up only once read to its end") {
  Tier t;
  const std::string body = random_body(200'000, 171);
  REQUIRE(t.run(put_body(*t.lower, "k", text_meta("k", body.size()), body)).has_value());
  CHECK_FALSE(t.has(*t.upper, "k"));

  // Read one chunk and give up: nothing may be published above.
  auto partial = t.run([&]() -> asio::awaitable<Result<std::size_t>> {
    auto hit = co_await t.tier->get("k");
    if (!hit) co_return hit.error();
    if (!*hit) co_return std::size_t{0};
    auto chunk = co_await (*hit)->body->read();
    if (!chunk) co_return chunk.error();
    co_return chunk->size();
  }());
  REQUIRE(partial.has_value());
  CHECK(*partial > 0);
  CHECK_MESSAGE(!t.has(*t.upper, "k"), "a partly read body was published in the upper store");

  auto full = t.run(get_body(*t.tier, "k"));
  REQUIRE(full.has_value());
  REQUIRE(full->has_value());
  CHECK_BODY((*full)->body, body);
  auto up = t.run(get_body(*t.upper, "k"));
  REQUIRE(up.has_value());
  REQUIRE_MESSAGE(up->has_value(), "a fully read lower hit was not copied up");
  CHECK_BODY((*up)->body, body);
  CHECK(tag_of((*up)->meta) == "k");
}

TEST_CASE("memory+disk: put, update_meta and remove reach both levels") {
  Tier t;
  const std::string body = random_body(100'000, 181);
  REQUIRE(t.run(put_body(*t.tier, "k", text_meta("v1", body.size()), body)).has_value());
  CHECK(t.has(*t.upper, "k"));
  CHECK(t.has(*t.lower, "k"));

  REQUIRE(t.run(t.tier->update_meta("k", text_meta("v2", body.size()))).has_value());
  for (Storage* level : {static_cast<Storage*>(t.upper.get()), t.lower.get()}) {
    auto got = t.run(get_body(*level, "k"));
    REQUIRE(got.has_value());
    if (got->has_value()) {  // the upper level may drop instead of update
      CHECK(tag_of((*got)->meta) == "v2");
      CHECK_BODY((*got)->body, body);
    }
  }
  auto via_tier = t.run(get_body(*t.tier, "k"));
  REQUIRE(via_tier.has_value());
  REQUIRE(via_tier->has_value());
  CHECK(tag_of((*via_tier)->meta) == "v2");

  auto removed = t.run(t.tier->remove("k"));
  REQUIRE(removed.has_value());
  CHECK(*removed);
  CHECK_FALSE(t.has(*t.upper, "k"));
  CHECK_FALSE(t.has(*t.lower, "k"));
  CHECK_FALSE(t.has(*t.tier, "k"));
}

TEST_CASE("memory+disk: the lower level survives a restart, the upper refills") {
  Env env(Kind::memory_disk);
  const std::string body = random_body(80'000, 191);
  must_put(env, "k", text_meta("k", body.size()), body);
  env.reopen();
  auto got = must_fetch(env, "k");
  REQUIRE(got.has_value());
  CHECK_BODY(got->body, body);
}

// ==========================================================================
// zstd at rest (over disk)

TEST_CASE("zstd: text bodies are stored compressed and read back exactly") {
  Env env(Kind::zstd_disk);
  const std::string body = text_body(500'000, 201);
  auto meta = text_meta("t", body.size());
  must_put(env, "text", meta, body);

  auto stats = env.store().stats();
  CHECK(stats.raw_bytes == body.size());
  CHECK(stats.compressed_bytes > 0);
  CHECK_MESSAGE(stats.compressed_bytes * 2 < stats.raw_bytes,
                "compressed " << stats.compressed_bytes << " of raw " << stats.raw_bytes);
  CHECK_MESSAGE(total_size(env.disk_root() / "objects") * 2 < body.size(), "the body on disk is not compressed");

  auto got = must_fetch(env, "text");
  REQUIRE(got.has_value());
  CHECK(got->meta.body_size == body.size());
  CHECK_BODY(got->body, body);
  CHECK(got->meta.headers.get("content-length") == std::to_string(body.size()));
  for (const auto& f : got->meta.headers) {
    CAPTURE(f.name);
    CHECK_FALSE(http::iequals(f.name.substr(0, std::min<std::size_t>(f.name.size(), 8)), "X-Relay-"));
  }

  // Still readable after a restart (the markers live in the record).
  env.reopen();
  auto after = must_fetch(env, "text");
  REQUIRE(after.has_value());
  CHECK(after->meta.body_size == body.size());
  CHECK_BODY(after->body, body);
}

TEST_CASE("zstd: a body without Content-Length is published with its size") {
  Env env(Kind::zstd_disk);
  const std::string body = text_body(300'000, 211);
  must_put(env, "nolength", text_meta("n"), body);
  auto got = must_fetch(env, "nolength");
  REQUIRE_MESSAGE(got.has_value(), "a committed entry without Content-Length is not visible");
  CHECK(got->meta.body_size == body.size());
  CHECK_BODY(got->body, body);
  CHECK(env.store().stats().raw_bytes == body.size());
}

TEST_CASE("zstd: other types and small bodies are stored as they are") {
  Env env(Kind::zstd_disk);
  const std::string binary = random_body(200'000, 221);
  auto meta = text_meta("bin", binary.size());
  meta.headers.set("Content-Type", "application/octet-stream");
  must_put(env, "bin", meta, binary);
  const std::string small = text_body(500, 222);  // under compression_min_size
  must_put(env, "small", text_meta("small", small.size()), small);

  CHECK(env.store().stats().raw_bytes == 0);
  CHECK(total_size(env.disk_root() / "objects") == binary.size() + small.size());
  auto b = must_fetch(env, "bin");
  auto s = must_fetch(env, "small");
  REQUIRE(b.has_value());
  REQUIRE(s.has_value());
  CHECK_BODY(b->body, binary);
  CHECK_BODY(s->body, small);
}

TEST_CASE("zstd: storage markers sent by an origin are not trusted") {
  Env env(Kind::zstd_disk);
  const std::string body = random_body(10'000, 231);
  auto meta = text_meta("forged", body.size());
  meta.headers.set("Content-Type", "application/octet-stream");
  meta.headers.add("X-Relay-Stored-Encoding", "zstd");
  meta.headers.add("X-Relay-Raw-Size", "5");
  must_put(env, "forged", meta, body);
  auto got = must_fetch(env, "forged");
  REQUIRE(got.has_value());
  CHECK(got->meta.body_size == body.size());
  CHECK_BODY(got->body, body);
}

// ==========================================================================
// redis

TEST_CASE("redis: two instances on one server and prefix share entries") {
  Env env(Kind::redis, {}, 2);
  auto a = env.shared();
  auto b = env.open_another();  // a second relay
  auto& la = env.loop(0);
  auto& lb = env.loop(1);
  const std::string v1 = random_body(150'000, 241);
  const std::string v2 = text_body(90'000, 242);

  REQUIRE(la.run(put_body(*a, "k", text_meta("v1", v1.size()), v1)).has_value());
  auto seen = lb.run(get_body(*b, "k"));
  REQUIRE_MESSAGE(seen.has_value(), seen.error().message());
  REQUIRE_MESSAGE(seen->has_value(), "the second instance does not see the first one's entry");
  CHECK(tag_of((*seen)->meta) == "v1");
  CHECK_BODY((*seen)->body, v1);

  REQUIRE(lb.run(put_body(*b, "k", text_meta("v2", v2.size()), v2)).has_value());
  auto back = la.run(get_body(*a, "k"));
  REQUIRE(back.has_value());
  REQUIRE(back->has_value());
  CHECK(tag_of((*back)->meta) == "v2");
  CHECK_BODY((*back)->body, v2);

  REQUIRE(lb.run(b->update_meta("k", text_meta("v2b", v2.size()))).has_value());
  auto updated = la.run(get_body(*a, "k"));
  REQUIRE(updated.has_value());
  REQUIRE(updated->has_value());
  CHECK(tag_of((*updated)->meta) == "v2b");

  auto removed = la.run(a->remove("k"));
  REQUIRE(removed.has_value());
  CHECK(*removed);
  auto gone = lb.run(get_body(*b, "k"));
  REQUIRE(gone.has_value());
  CHECK_FALSE(gone->has_value());
}

TEST_CASE("redis: key prefixes keep instances apart, all keys under the prefix") {
  Env env(Kind::redis);
  auto& server = shared_redis();
  auto cfg = env.redis_config();
  cfg.key_prefix = unique_prefix();
  auto stranger = make_redis_store(cfg);

  const std::string body = random_body(200'000, 251);
  must_put(env, "k", text_meta("mine", body.size()), body);
  auto other = env.run(get_body(*stranger, "k"));
  REQUIRE(other.has_value());
  CHECK_FALSE_MESSAGE(other->has_value(), "another key_prefix sees the entry");

  auto keys = server.keys(env.redis_prefix() + "*");
  CHECK_FALSE(keys.empty());
  CHECK(server.keys(cfg.key_prefix + "*").empty());
  env.loop().stop();
  stranger.reset();
}

TEST_CASE("redis: every key carries a TTL bounded by keep_for") {
  Env env(Kind::redis);
  auto& server = shared_redis();
  const std::string body = random_body(300'000, 261);  // several chunks
  must_put(env, "k", text_meta("k", body.size(), std::chrono::seconds(100)), body);
  auto keys = server.keys(env.redis_prefix() + "*");
  REQUIRE_FALSE(keys.empty());
  for (const auto& key : keys) {
    CAPTURE(key);
    auto ttl = server.pttl(key);
    CHECK_MESSAGE(ttl > 0, "a key without TTL would outlive keep_for forever");
    CHECK(ttl <= (100 + 120) * 1000);
  }
}

TEST_CASE("redis: a saturated keep_for is capped, not overflowed into a negative TTL") {
  Env env(Kind::redis);
  auto& server = shared_redis();
  const std::string body = random_body(1'000, 263);
  must_put(env, "k", text_meta("k", body.size(), std::chrono::seconds::max()), body);
  auto keys = server.keys(env.redis_prefix() + "*");
  REQUIRE_FALSE(keys.empty());
  for (const auto& key : keys) {
    CAPTURE(key);
    CHECK(server.pttl(key) > 3650LL * 86400 * 1000 - 60'000);
  }
}

TEST_CASE("redis: an aborted write leaves no readable entry") {
  Env env(Kind::redis);
  auto& server = shared_redis();
  const std::string partial = random_body(300'000, 271);
  auto r = env.run([&]() -> asio::awaitable<Result<void>> {
    auto writer = co_await env.store().put("k", text_meta("k", 600'000));
    if (!writer) co_return writer.error();
    co_return co_await (*writer)->write(std::span<const char>(partial.data(), partial.size()));
  }());
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  CHECK(is_miss(env, "k"));
  WARN_MESSAGE(eventually([&] { return server.keys(env.redis_prefix() + "*").empty(); }),
               "chunks of an aborted write stay in Redis until their TTL");
}

// Reads from `reader` until `want` bytes have come (or it ends or fails).
asio::awaitable<Result<std::string>> read_at_least(BodyReader& reader, std::size_t want) {
  std::string got;
  while (got.size() < want) {
    auto chunk = co_await reader.read();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) break;
    got.append(chunk->data(), chunk->size());
  }
  co_return got;
}

TEST_CASE("backends not shared between instances offer no fill in progress") {
  for (auto kind : {Kind::memory, Kind::disk, Kind::memory_disk, Kind::zstd_disk}) {
    CAPTURE(kind_name(kind));
    Env env(kind);
    const std::string body = random_body(200'000, 311);
    auto writer = env.run([&]() -> asio::awaitable<Result<std::unique_ptr<BodyWriter>>> {
      auto w = co_await env.store().put("k", text_meta("fill", body.size()));
      if (!w) co_return w.error();
      if (auto r = co_await (*w)->write(std::span<const char>(body.data(), body.size())); !r) co_return r.error();
      co_return w;
    }());
    REQUIRE(writer.has_value());
    auto partial = env.run(env.store().get_in_progress("k"));
    REQUIRE(partial.has_value());
    CHECK_FALSE(partial->has_value());
  }
}

TEST_CASE("redis: another instance streams a fill while it is written") {
  Env env(Kind::redis, {}, 2);
  auto a = env.shared();
  auto b = env.open_another();
  auto& la = env.loop(0);
  auto& lb = env.loop(1);
  const std::string body = random_body(200'000, 281);  // chunks of 64 KiB: 3 full, then 8 KiB
  const std::size_t first = 150'000;

  // Nothing is announced before the first chunk is stored.
  auto writer = la.run([&]() -> asio::awaitable<Result<std::unique_ptr<BodyWriter>>> {
    co_return co_await a->put("k", text_meta("fill", body.size()));
  }());
  REQUIRE(writer.has_value());
  auto early = lb.run(b->get_in_progress("k"));
  REQUIRE(early.has_value());
  CHECK_FALSE(early->has_value());

  auto wrote = la.run((*writer)->write(std::span<const char>(body.data(), first)));
  REQUIRE_MESSAGE(wrote.has_value(), wrote.error().message());
  auto partial = lb.run(b->get_in_progress("k"));
  REQUIRE_MESSAGE(partial.has_value(), partial.error().message());
  REQUIRE_MESSAGE(partial->has_value(), "the fill is not announced to other instances");
  CHECK(tag_of((*partial)->meta) == "fill");
  CHECK(is_miss(env, "k"));  // not committed: a plain get still misses
  auto& reader = *(*partial)->body;
  auto head = lb.run(read_at_least(reader, 128 * KiB));
  REQUIRE_MESSAGE(head.has_value(), head.error().message());
  CHECK(*head == body.substr(0, head->size()));

  // The reader waits for the rest and ends exactly when the writer commits.
  auto rest = std::async(std::launch::async, [&] { return lb.run(drain(reader)); });
  CHECK(rest.wait_for(300ms) == std::future_status::timeout);
  auto committed = la.run([&]() -> asio::awaitable<Result<void>> {
    auto more = co_await (*writer)->write(std::span<const char>(body.data() + first, body.size() - first));
    if (!more) co_return more.error();
    co_return co_await (*writer)->commit();
  }());
  REQUIRE_MESSAGE(committed.has_value(), committed.error().message());
  auto tail = rest.get();
  REQUIRE_MESSAGE(tail.has_value(), tail.error().message());
  CHECK_BODY(*head + *tail, body);
  auto after = lb.run(b->get_in_progress("k"));
  REQUIRE(after.has_value());
  CHECK_FALSE_MESSAGE(after->has_value(), "a committed fill is still announced");
}

// A fill written halfway on the first loop's instance, and another
// instance's reader that has streamed its first 128 KiB.
struct HalfWrittenFill {
  std::unique_ptr<BodyWriter> writer;
  std::optional<Hit> partial;
};
HalfWrittenFill half_written_fill(Env& env, std::uint64_t seed) {
  auto a = env.shared();
  auto b = env.open_another();
  const std::string body = random_body(150'000, seed);
  auto writer = env.loop(0).run([&]() -> asio::awaitable<Result<std::unique_ptr<BodyWriter>>> {
    auto w = co_await a->put("k", text_meta("fill", 400'000));
    if (!w) co_return w.error();
    if (auto r = co_await (*w)->write(std::span<const char>(body.data(), body.size())); !r) co_return r.error();
    co_return w;
  }());
  REQUIRE(writer.has_value());
  auto partial = env.loop(1).run(b->get_in_progress("k"));
  REQUIRE(partial.has_value());
  REQUIRE(partial->has_value());
  auto head = env.loop(1).run(read_at_least(*(*partial)->body, 128 * KiB));
  REQUIRE(head.has_value());
  CHECK(*head == body.substr(0, head->size()));
  return {std::move(*writer), std::move(*partial)};
}

TEST_CASE("redis: a fill abandoned midway fails its streaming readers") {
  Env env(Kind::redis, {}, 2);
  auto fill = half_written_fill(env, 291);
  fill.writer.reset();  // dropped before commit: the writer gave up
  auto rest = env.loop(1).run(drain(*fill.partial->body), 10s);
  CHECK_FALSE_MESSAGE(rest.has_value(), "a reader of an abandoned fill must fail, not end cleanly");
  CHECK(is_miss(env, "k"));
}

TEST_CASE("redis: a fill whose writer stops living is given up within seconds") {
  Env env(Kind::redis, {}, 2);
  auto fill = half_written_fill(env, 301);
  // The writer's loop stops, as in a process killed mid-fill: no cleanup,
  // no more heartbeats.
  env.loop(0).stop();
  auto start = std::chrono::steady_clock::now();
  auto rest = env.loop(1).run(drain(*fill.partial->body), 15s);
  CHECK_FALSE(rest.has_value());
  CHECK(seconds_since(start) < 8.0);
  fill.writer.reset();  // its cleanup is posted to the stopped loop and never runs, as in a crash
}

// The url is parsed once, at config load: a bad one never reaches the store.
TEST_CASE("redis: an invalid url is refused") {
  CHECK_THROWS_AS(config::RedisUrl::parse("http://127.0.0.1:6379/0"), std::invalid_argument);
  CHECK_THROWS_AS(config::RedisUrl::parse("redis://127.0.0.1:notaport/0"), std::invalid_argument);
}

namespace {

struct Timed {
  bool ok = false;
  error_code error;
  double seconds = 0;
};

asio::awaitable<Result<void>> op_get(Storage& s, std::string key) {
  auto r = co_await s.get(key);
  if (!r) co_return r.error();
  co_return Result<void>{};
}

asio::awaitable<Result<void>> op_update(Storage& s, std::string key, EntryMeta meta) {
  co_return co_await s.update_meta(key, std::move(meta));
}

asio::awaitable<Result<void>> op_remove(Storage& s, std::string key) {
  auto r = co_await s.remove(key);
  if (!r) co_return r.error();
  co_return Result<void>{};
}

// get, put+write+commit, update_meta and remove against a store whose
// server is gone: each must fail, quickly.
std::vector<std::pair<std::string, Timed>> try_everything(Env& env, const std::string& body) {
  std::vector<std::pair<std::string, Timed>> out;
  auto timed = [&](const std::string& what, asio::awaitable<Result<void>> task) {
    const auto start = Steady::now();
    auto r = env.run(std::move(task), 10s);
    Timed t;
    t.seconds = seconds_since(start);
    t.ok = r.has_value();
    if (!r) t.error = r.error();
    out.emplace_back(what, t);
  };
  timed("get", op_get(env.store(), "k"));
  timed("put", put_body(env.store(), "k2", text_meta("k2", body.size()), body));
  timed("update_meta", op_update(env.store(), "k", text_meta("k-2", body.size())));
  timed("remove", op_remove(env.store(), "k"));
  return out;
}

}  // namespace

TEST_CASE("redis: an outage fails fast, a restarted server is used again") {
  const auto sigpipes = sigpipe_count();
  RedisServer server;
  server.start();
  Options options;
  options.redis_url = server.url();
  Env env(Kind::redis, options);
  const std::string body = random_body(100'000, 281);
  const std::string long_body = random_body(1'000'000, 282);  // 16 chunks of 64 KiB
  must_put(env, "k", text_meta("k", body.size()), body);
  must_put(env, "long", text_meta("long", long_body.size()), long_body);
  REQUIRE(must_fetch(env, "k").has_value());

  // A reader and a writer in the middle of their bodies when Redis dies.
  auto hit = env.run(env.store().get("long"));
  REQUIRE(hit.has_value());
  REQUIRE(hit->has_value());
  auto first = env.run((*hit)->body->read());
  REQUIRE(first.has_value());
  std::string read_so_far(first->data(), first->size());
  auto writer = env.run(env.store().put("w", text_meta("w", long_body.size())));
  REQUIRE(writer.has_value());
  REQUIRE(env.run((*writer)->write(std::span<const char>(long_body.data(), 200'000))).has_value());

  server.kill();

  {
    INFO("the open reader ends (an error, or the whole correct body), each read quickly");
    bool failed = false;
    for (int i = 0; i < 64; ++i) {
      const auto start = Steady::now();
      auto chunk = env.run((*hit)->body->read(), 10s);
      CHECK(seconds_since(start) < 1.0);
      if (!chunk) {
        failed = true;
        break;
      }
      if (chunk->empty()) break;
      read_so_far.append(chunk->data(), chunk->size());
    }
    if (!failed) CHECK_BODY(read_so_far, long_body);
  }
  {
    INFO("the open writer fails, each step quickly");
    const auto start = Steady::now();
    auto w = env.run((*writer)->write(std::span<const char>(long_body.data() + 200'000, 300'000)), 10s);
    auto c = w ? env.run((*writer)->commit(), 10s) : Result<void>(w.error());
    CHECK(seconds_since(start) < 2.0);
    CHECK_FALSE(c.has_value());
    writer->reset();
  }

  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    for (const auto& [what, t] : try_everything(env, body)) {
      CAPTURE(what);
      CHECK_MESSAGE(!t.ok, what << " succeeded with Redis down");
      CHECK_MESSAGE(t.seconds < 1.0, what << " took " << t.seconds << " s with Redis down");
      if (!t.ok) CHECK_MESSAGE(t.error == make_error_code(Errc::storage_unavailable), t.error.message());
    }
  }

  // Same port again: within a few seconds the store works again.
  server.start();
  const auto restarted = Steady::now();
  bool back = false;
  std::string last_error;
  for (int attempt = 0; attempt < 100 && seconds_since(restarted) < 10.0; ++attempt) {
    auto put = env.run(put_body(env.store(), "after", text_meta("after", body.size()), body), 10s);
    if (put) {
      auto got = env.run(get_body(env.store(), "after"), 10s);
      if (got && *got && (*got)->body == body) {
        back = true;
        break;
      }
      last_error = got ? "miss after put" : got.error().message();
    } else {
      last_error = put.error().message();
    }
    std::this_thread::sleep_for(100ms);
  }
  const double took = seconds_since(restarted);
  REQUIRE_MESSAGE(back, "the store did not recover within 10 s of the restart: " << last_error);
  CHECK_MESSAGE(took < 6.0, "recovery took " << took << " s");
  MESSAGE("redis: store usable again " << took << " s after the restart");
  // The restarted server kept nothing (no persistence): an honest miss.
  auto old = env.run(get_body(env.store(), "k"));
  REQUIRE(old.has_value());
  CHECK_FALSE(old->has_value());

  CHECK_MESSAGE(sigpipe_count() == sigpipes,
                "SIGPIPE raised while Redis was down: relay does not ignore SIGPIPE, so this kills the process");
}

TEST_CASE("redis: a server that is not there fails fast") {
  RedisServer nobody;  // never started: nothing listens on its port
  nobody.start();
  const auto url = nobody.url();
  nobody.kill();
  Options options;
  options.redis_url = url;
  Env env(Kind::redis, options);
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    for (const auto& [what, t] : try_everything(env, "body")) {
      CAPTURE(what);
      CHECK_FALSE(t.ok);
      CHECK_MESSAGE(t.seconds < 1.5, what << " took " << t.seconds << " s");
    }
  }
}

TEST_CASE("disk: access order survives a restart (LRU persisted through record mtimes)") {
  Env env(Kind::disk);
  const std::string a = random_body(100'000, 201), b = random_body(100'000, 202), c = random_body(100'000, 203);
  // Record mtimes come from the store's clock: one second apart each.
  must_put(env, "a", text_meta("a", a.size()), a);
  env.clock().advance(1s);
  must_put(env, "b", text_meta("b", b.size()), b);
  env.clock().advance(1s);
  must_put(env, "c", text_meta("c", c.size()), c);
  env.clock().advance(1s);
  REQUIRE(must_fetch(env, "a").has_value());  // "a" is now the most recently used

  // Restart with room for the three plus half of a fourth: one must go.
  Options tight;
  tight.max_size = env.store().stats().size_bytes + 50'000;
  env.reopen(tight);
  const std::string d = random_body(100'000, 204);
  must_put(env, "d", text_meta("d", d.size()), d);
  CHECK_MESSAGE(is_miss(env, "b"), "the least recently used entry before the restart is evicted first");
  CHECK(must_fetch(env, "a").has_value());
  CHECK(must_fetch(env, "c").has_value());
  CHECK(must_fetch(env, "d").has_value());
}
