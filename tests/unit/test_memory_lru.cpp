// Storage contract, run against the memory backend through the async
// interface: miss, put/commit/get, abort invisibility, update_meta, remove,
// readers surviving replacement, lru/lfu/fifo order, expiry and byte
// accounting; then the compressing and tiering decorators over memory.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <unistd.h>

#include <boost/asio/detached.hpp>

#include <random>
#include <stdexcept>
#include <thread>

#include "relay/storage/compressed_store.hpp"
#include "relay/storage/memory_lru.hpp"
#include "relay/storage/size_limited_store.hpp"
#include "relay/storage/tiered_store.hpp"

namespace asio = boost::asio;
using namespace relay;
using namespace relay::storage;

namespace {

template <class T>
T run(asio::awaitable<T> task) {
  asio::io_context io;
  auto future = asio::co_spawn(io, std::move(task), asio::use_future);
  io.run();
  return future.get();
}

EntryMeta meta_with(std::string header_value) {
  EntryMeta meta;
  meta.status = 200;
  meta.reason = "OK";
  meta.headers.add("X-Tag", std::move(header_value));
  return meta;
}

asio::awaitable<bool> store_meta(Storage& s, std::string key, EntryMeta meta, std::string body) {
  auto writer = co_await s.put(key, std::move(meta));
  if (!writer) co_return false;
  for (std::size_t i = 0; i < body.size(); i += 50'000) {
    auto part = std::string_view(body).substr(i, 50'000);
    if (!co_await (*writer)->write(std::span(part.data(), part.size()))) co_return false;
  }
  co_return bool(co_await (*writer)->commit());
}

asio::awaitable<bool> store(Storage& s, std::string key, std::string body, std::string tag = "v1") {
  return store_meta(s, std::move(key), meta_with(std::move(tag)), std::move(body));
}

asio::awaitable<std::optional<std::string>> fetch(Storage& s, std::string key) {
  auto hit = co_await s.get(key);
  if (!hit || !*hit) co_return std::nullopt;
  std::string body;
  for (;;) {
    auto chunk = co_await (**hit).body->read();
    if (!chunk || chunk->empty()) break;
    body.append(chunk->data(), chunk->size());
  }
  co_return body;
}

}  // namespace

TEST_CASE("storage: a key never stored is a miss") {
  MemoryLru s(1 << 20);
  CHECK_FALSE(run(fetch(s, "k")).has_value());
}

TEST_CASE("storage: put, commit, get returns the same meta and body") {
  MemoryLru s(8 << 20);
  std::string body(300'000, 'x');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  REQUIRE(run(store(s, "k", body)));
  CHECK(run(fetch(s, "k")) == body);
  auto hit = run(s.get("k"));
  REQUIRE(hit.has_value());
  REQUIRE(hit->has_value());
  CHECK((*hit)->meta.body_size == body.size());
  CHECK((*hit)->meta.headers.get("x-tag") == "v1");
}

TEST_CASE("storage: a writer dropped without commit leaves no entry") {
  MemoryLru s(1 << 20);
  run([&]() -> asio::awaitable<void> {
    auto writer = co_await s.put("k", meta_with("v1"));
    std::string_view part = "partial";
    co_await (*writer)->write(std::span(part.data(), part.size()));
  }());
  CHECK_FALSE(run(fetch(s, "k")).has_value());
  CHECK(s.stats().entries == 0);
  CHECK(s.stats().size_bytes == 0);
}

TEST_CASE("storage: update_meta replaces headers and keeps the body") {
  MemoryLru s(1 << 20);
  REQUIRE(run(store(s, "k", "body")));
  run(s.update_meta("k", meta_with("v2")));
  auto hit = run(s.get("k"));
  REQUIRE(hit->has_value());
  CHECK((*hit)->meta.headers.get("x-tag") == "v2");
  CHECK((*hit)->meta.body_size == 4);
  CHECK(run(fetch(s, "k")) == "body");
}

TEST_CASE("storage: remove reports whether the key existed") {
  MemoryLru s(1 << 20);
  REQUIRE(run(store(s, "k", "body")));
  CHECK(run(s.remove("k")).value());
  CHECK_FALSE(run(s.remove("k")).value());
  CHECK_FALSE(run(fetch(s, "k")).has_value());
}

TEST_CASE("storage: a reader keeps its object while the key is replaced") {
  MemoryLru s(1 << 20);
  REQUIRE(run(store(s, "k", "old body")));
  auto hit = run(s.get("k"));
  REQUIRE(hit->has_value());
  REQUIRE(run(store(s, "k", "new body", "v2")));
  auto chunk = run((*hit)->body->read());
  REQUIRE(chunk.has_value());
  CHECK(std::string(chunk->data(), chunk->size()) == "old body");
  CHECK(run(fetch(s, "k")) == "new body");
  CHECK(s.stats().entries == 1);
}

TEST_CASE("storage: eviction removes the least recently used entry") {
  std::string body(25 * 4096, 'b');  // whole pages: a memfd body is charged by the page
  auto charge = MemoryLru::charge_of("k1", meta_with("v1"), body.size());
  MemoryLru s(3 * charge + 10);
  REQUIRE(run(store(s, "k1", body)));
  REQUIRE(run(store(s, "k2", body)));
  REQUIRE(run(store(s, "k3", body)));
  CHECK(run(fetch(s, "k1")).has_value());  // k1 is now the most recent
  REQUIRE(run(store(s, "k4", body)));
  CHECK_FALSE(run(fetch(s, "k2")).has_value());
  CHECK(run(fetch(s, "k1")).has_value());
  CHECK(run(fetch(s, "k3")).has_value());
  CHECK(run(fetch(s, "k4")).has_value());
  CHECK(s.stats().evictions == 1);
  CHECK(s.stats().entries == 3);
}

TEST_CASE("storage: byte accounting counts key, headers, body and overhead") {
  MemoryLru s(1 << 20);
  REQUIRE(run(store(s, "key", std::string(1000, 'z'))));
  auto expected = MemoryLru::charge_of("key", meta_with("v1"), 1000);
  CHECK(s.stats().size_bytes == expected);
  CHECK(expected > 1000 + 3 + 2);  // body, key, the field's value
  // Each byte of a (not well-known) field's value and of the key counts.
  CHECK(MemoryLru::charge_of("key", meta_with("v1-longer"), 1000) == expected + 7);
  CHECK(MemoryLru::charge_of("key-longer", meta_with("v1"), 1000) == expected + 7);
  run(s.remove("key"));
  CHECK(s.stats().size_bytes == 0);
}

TEST_CASE("storage: objects over max_object_size or max_size are refused, the cache intact") {
  auto memory = std::make_shared<MemoryLru>(64 * 1024);
  auto limited = make_size_limited_store(memory, 10'000);
  auto& s = *limited;
  REQUIRE(run(store(s, "small", "x")));
  CHECK_FALSE(run(store(s, "big", std::string(20'000, 'y'))));
  CHECK_FALSE(run(fetch(s, "big")).has_value());
  CHECK(run(fetch(s, "small")) == "x");

  MemoryLru unlimited_objects(64 * 1024);
  REQUIRE(run(store(unlimited_objects, "small", "x")));
  CHECK_FALSE(run(store(unlimited_objects, "huge", std::string(100'000, 'y'))));
  CHECK(run(fetch(unlimited_objects, "small")) == "x");
  CHECK(unlimited_objects.stats().evictions == 0);
}

// ---- eviction policies and expiry -------------------------------------------

TEST_CASE("storage: a body past file_threshold lives in a sealed memfd, read byte-exact from any slice") {
  MemoryLru s(8 << 20);
  std::string body(200'000, 'x');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 23);
  REQUIRE(run(store(s, "big", body)));
  REQUIRE(run(store(s, "small", std::string(1000, 's'))));

  auto hit = run(s.get("big"));
  REQUIRE(hit.has_value());
  REQUIRE(hit->has_value());
  auto file = (**hit).body->file();
  REQUIRE(file);
  CHECK(file->offset == 0);
  CHECK(file->size == body.size());
  std::string from_file(body.size(), '\0');
  CHECK(::pread(file->fd, from_file.data(), from_file.size(), 0) == static_cast<ssize_t>(body.size()));
  CHECK(from_file == body);
  CHECK(::write(file->fd, "!", 1) == -1);  // sealed: the bytes a hit sends cannot change
  CHECK(run(fetch(s, "big")) == body);
  // Charged in whole pages, as the kernel holds it.
  CHECK(s.stats().size_bytes >= body.size() + 4096 - body.size() % 4096);

  // start_at skips whole slices; the first read starts where it says.
  auto reader = std::move((**hit).body);
  const auto start = reader->start_at(150'000);
  CHECK(start == MemoryBody::block_size * 2);
  auto chunk = run(reader->read());
  REQUIRE(chunk.has_value());
  CHECK(std::string_view(chunk->data(), chunk->size()) == std::string_view(body).substr(start, chunk->size()));

  auto small = run(s.get("small"));
  REQUIRE(small.has_value());
  REQUIRE(small->has_value());
  CHECK_FALSE((**small).body->file());

  // The memfd lives as long as the last reader, not the entry.
  const auto open_before = MemoryBodyBuilder::open_files();
  REQUIRE(run(s.remove("big")).value());
  CHECK(MemoryBodyBuilder::open_files() == open_before);
  reader.reset();  // the hit's body was moved into it
  CHECK(MemoryBodyBuilder::open_files() == open_before - 1);
}

TEST_CASE("storage: parse_eviction names the three policies") {
  CHECK(parse_eviction("lru") == Eviction::lru);
  CHECK(parse_eviction("lfu") == Eviction::lfu);
  CHECK(parse_eviction("fifo") == Eviction::fifo);
  CHECK_THROWS_AS(parse_eviction("random"), std::invalid_argument);
}

TEST_CASE("storage: fifo evicts in insertion order whatever the hits") {
  std::string body(25 * 4096, 'b');  // whole pages: a memfd body is charged by the page
  MemoryLru s(3 * (MemoryLru::charge_of("k1", meta_with("v1"), body.size())) + 10, Eviction::fifo);
  for (auto key : {"k1", "k2", "k3"}) REQUIRE(run(store(s, key, body)));
  CHECK(run(fetch(s, "k1")).has_value());  // a hit does not save k1
  REQUIRE(run(store(s, "k4", body)));
  CHECK_FALSE(run(fetch(s, "k1")).has_value());
  for (auto key : {"k2", "k3", "k4"}) CHECK(run(fetch(s, key)).has_value());
  CHECK(s.stats().evictions == 1);
}

TEST_CASE("storage: lfu evicts the least used, ties to the least recently used") {
  std::string body(25 * 4096, 'b');  // whole pages: a memfd body is charged by the page
  auto charge = MemoryLru::charge_of("k1", meta_with("v1"), body.size());
  MemoryLru s(3 * charge + 10, Eviction::lfu);
  for (auto key : {"k1", "k2", "k3"}) REQUIRE(run(store(s, key, body)));
  run(fetch(s, "k1"));
  run(fetch(s, "k1"));
  run(fetch(s, "k3"));  // uses: k1 3, k3 2, k2 1 (k2 the newest but least used)
  REQUIRE(run(store(s, "k4", body)));
  CHECK(!s.find("k2").has_value());
  CHECK(s.stats().evictions == 1);

  // k4 (1 use) goes next even though k1 is older.
  REQUIRE(run(store(s, "k5", body)));
  CHECK(!s.find("k4").has_value());

  // Ties: every entry at the same count, the least recently used goes.
  MemoryLru t(3 * charge + 10, Eviction::lfu);
  for (auto key : {"k1", "k2", "k3"}) REQUIRE(run(store(t, key, body)));
  for (auto key : {"k2", "k1", "k3"}) run(fetch(t, key));
  REQUIRE(run(store(t, "k4", body)));  // k4 has 1 use, the others 2: the victim is k2
  CHECK(!t.find("k2").has_value());
  CHECK(t.find("k1").has_value());
  CHECK(t.find("k3").has_value());
  CHECK(t.find("k4").has_value());
}

TEST_CASE("storage: lfu keeps a key's count when it is stored again") {
  std::string body(25 * 4096, 'b');  // whole pages: a memfd body is charged by the page
  MemoryLru s(2 * (MemoryLru::charge_of("k1", meta_with("v1"), body.size())) + 10, Eviction::lfu);
  REQUIRE(run(store(s, "k1", body)));
  run(fetch(s, "k1"));
  run(fetch(s, "k1"));
  REQUIRE(run(store(s, "k1", body, "v2")));  // a refresh of a popular entry
  REQUIRE(run(store(s, "k2", body)));
  REQUIRE(run(store(s, "k3", body)));
  CHECK(s.find("k1").has_value());
  CHECK(!s.find("k2").has_value());
}

TEST_CASE("storage: entries past keep_for are dropped on lookup and counted") {
  MemoryLru s(1 << 20);
  auto now = std::chrono::system_clock::now();
  auto aged = [now](std::chrono::seconds age, std::chrono::seconds keep_for) {
    auto meta = meta_with("v1");
    meta.response_time = now - age;
    meta.keep_for = keep_for;
    return meta;
  };
  using std::chrono::seconds;
  REQUIRE(run(store_meta(s, "old", aged(seconds(10), seconds(5)), "a")));
  REQUIRE(run(store_meta(s, "young", aged(seconds(1), seconds(60)), "b")));
  REQUIRE(run(store_meta(s, "forever", aged(seconds(100'000), seconds(0)), "c")));
  CHECK(s.stats().entries == 3);
  CHECK_FALSE(run(fetch(s, "old")).has_value());
  CHECK(run(fetch(s, "young")).has_value());
  CHECK(run(fetch(s, "forever")).has_value());
  CHECK(s.stats().expirations == 1);
  CHECK(s.stats().entries == 2);
}

TEST_CASE("storage: a keep_for beyond the clock's range keeps the entry instead of wrapping") {
  MemoryLru s(1 << 20);
  auto now = std::chrono::system_clock::now();
  auto kept = [now](std::chrono::seconds keep_for) {
    auto meta = meta_with("v1");
    meta.response_time = now;
    meta.keep_for = keep_for;
    return meta;
  };
  // 300 years of seconds do not fit in the clock's nanoseconds after now.
  REQUIRE(run(store_meta(s, "centuries", kept(std::chrono::seconds(300LL * 365 * 86400)), "a")));
  REQUIRE(run(store_meta(s, "max", kept(std::chrono::seconds::max()), "b")));
  CHECK(run(fetch(s, "centuries")) == std::optional<std::string>("a"));
  CHECK(run(fetch(s, "max")) == std::optional<std::string>("b"));
  CHECK(s.stats().expirations == 0);
  CHECK(expired(kept(std::chrono::seconds::max()), std::chrono::system_clock::time_point::max()) == false);
  CHECK(expired(kept(std::chrono::seconds(10)), now + std::chrono::seconds(11)));
}

// ---- shards (several event-loop threads) -----------------------------------

namespace {

// Keys of one length, so entries of one body are charged alike.
std::string numbered_key(int i) {
  auto digits = std::to_string(i);
  return "https://example.test/object/" + std::string(6 - digits.size(), '0') + digits;
}

}  // namespace

TEST_CASE("shards: the store is one budget: an object near max_size fits among small ones") {
  const std::string small(1000, 's');
  const auto small_charge = MemoryLru::charge_of(numbered_key(0), meta_with("v1"), small.size());
  const std::uint64_t max_size = 200 * small_charge;
  MemoryLru s(max_size, Eviction::lru, real_clock(), 16);
  CHECK(s.shards() == 16);
  for (int i = 0; i < 200; ++i) REQUIRE(s.insert(numbered_key(i), meta_with("v1"), small));
  CHECK(s.stats().entries == 200);
  CHECK(s.stats().evictions == 0);
  // Sixteen times a shard's share: it fits, the others make room.
  const std::string big(static_cast<std::size_t>(max_size * 9 / 10), 'B');
  REQUIRE(run(store(s, "big", big)));
  CHECK(run(fetch(s, "big")) == std::optional<std::string>(big));
  CHECK(s.stats().size_bytes <= max_size);
  CHECK(s.stats().entries < 30);
  // One past the whole budget never fits, the cache stays.
  const auto entries = s.stats().entries;
  CHECK_FALSE(run(store(s, "huge", std::string(max_size + 1, 'H'))));
  CHECK(s.stats().entries == entries);
}

TEST_CASE("shards: eviction spares the newest entries, shard by shard") {
  const std::string body(500, 'b');
  const auto charge = MemoryLru::charge_of(numbered_key(0), meta_with("v1"), body.size());
  constexpr int capacity = 1000;
  MemoryLru s(capacity * charge, Eviction::lru, real_clock(), 16);
  for (int i = 0; i < 4 * capacity; ++i) REQUIRE(s.insert(numbered_key(i), meta_with("v1"), body));
  CHECK(s.stats().size_bytes <= capacity * charge);
  CHECK(s.stats().entries >= capacity - 16);
  // The newest half of what fits is all there: the shards stayed even, so
  // none had to give up recent entries while another kept old ones.
  for (int i = 4 * capacity - capacity / 2; i < 4 * capacity; ++i) {
    CHECK_MESSAGE(s.find(numbered_key(i)).has_value(), "evicted: " << i);
  }
  // The oldest quarter is gone.
  int old_left = 0;
  for (int i = 0; i < capacity; ++i) old_left += s.find(numbered_key(i)).has_value() ? 1 : 0;
  CHECK(old_left == 0);
}

TEST_CASE("shards: hits, stores, updates and removes from four threads keep the byte count exact") {
  const std::string body(700, 'b');
  const auto charge = MemoryLru::charge_of(numbered_key(0), meta_with("v1"), body.size());
  constexpr int keys = 400;
  MemoryLru s(250 * charge, Eviction::lru, real_clock(), 16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      asio::io_context io;
      for (int n = 0; n < 20'000; ++n) {
        const auto key = numbered_key(static_cast<int>(random() % keys));
        switch (random() % 4) {
          case 0: s.insert(key, meta_with("v1"), body); break;
          case 1: asio::co_spawn(io, s.remove(key), asio::detached); break;
          case 2: asio::co_spawn(io, s.update_meta(key, meta_with("v2")), asio::detached); break;
          default: (void)s.find(key); break;
        }
        io.poll();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto stats = s.stats();
  CHECK(stats.size_bytes <= 250 * charge);
  CHECK(stats.entries > 0);
  // "v1" and "v2" pack to the same size, so every entry is charged alike.
  CHECK(stats.size_bytes == stats.entries * charge);
}

// ---- compression at rest ----------------------------------------------------

namespace {

EntryMeta typed(std::string type, std::optional<std::size_t> length = std::nullopt) {
  auto meta = meta_with("v1");
  meta.headers.add("Content-Type", std::move(type));
  if (length) meta.headers.add("Content-Length", std::to_string(*length));
  return meta;
}

std::string text_body(std::size_t size) {
  std::string body;
  while (body.size() < size) body += "<p>relay caches " + std::to_string(body.size() % 97) + " things</p>\n";
  body.resize(size);
  return body;
}

std::string random_body(std::size_t size) {
  std::mt19937 gen(42);
  std::string body(size, '\0');
  for (auto& c : body) c = static_cast<char>(gen());
  return body;
}

// The whole body, or the error a read reported.
asio::awaitable<Result<std::string>> read_all(Storage& s, std::string key) {
  auto hit = co_await s.get(key);
  if (!hit) co_return hit.error();
  if (!*hit) co_return make_error_code(Errc::storage_unavailable);
  std::string body;
  for (;;) {
    auto chunk = co_await (**hit).body->read();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) co_return body;
    body.append(chunk->data(), chunk->size());
  }
}

struct Compressed {
  std::shared_ptr<MemoryLru> inner = std::make_shared<MemoryLru>(64 << 20);
  std::shared_ptr<Storage> store;
  Compressed() {
    config::StorageConfig cfg;
    cfg.compression = config::Compression::Zstd;
    store = make_compressed_store(inner, cfg);
  }
  bool stored_compressed(const std::string& key) {
    auto object = inner->find(key);
    return object && object->internal.encoding == BodyEncoding::zstd;
  }
};

bool has_markers(const EntryMeta& meta) {
  return meta.headers.contains("X-Relay-Stored-Encoding") || meta.headers.contains("X-Relay-Raw-Size");
}

}  // namespace

TEST_CASE("compressed: text round-trips, stored smaller, markers invisible") {
  Compressed c;
  auto body = text_body(300'000);
  for (bool known_length : {true, false}) {
    CAPTURE(known_length);
    auto meta = typed("text/html; charset=utf-8", known_length ? std::optional(body.size()) : std::nullopt);
    REQUIRE(run(store_meta(*c.store, "k", std::move(meta), body)));
    CHECK(c.stored_compressed("k"));
    CHECK(c.inner->find("k")->body_size < body.size() / 5);
    CHECK(run(read_all(*c.store, "k")).value() == body);
    auto hit = run(c.store->get("k"));
    REQUIRE(hit->has_value());
    CHECK((*hit)->meta.body_size == body.size());
    CHECK_FALSE(has_markers((*hit)->meta));
  }
  auto stats = c.store->stats();
  CHECK(stats.raw_bytes == 2 * body.size());
  CHECK(stats.compressed_bytes < stats.raw_bytes / 5);
  CHECK(stats.entries == 1);
}

TEST_CASE("compressed: incompressible bodies round-trip too") {
  Compressed c;
  auto body = random_body(200'000);
  REQUIRE(run(store_meta(*c.store, "k", typed("application/json"), body)));
  CHECK(c.stored_compressed("k"));
  CHECK(run(read_all(*c.store, "k")).value() == body);
}

TEST_CASE("compressed: content type, encoding and min size decide") {
  Compressed c;
  auto body = text_body(5000);
  REQUIRE(run(store_meta(*c.store, "small", typed("text/plain", 500), text_body(500))));
  REQUIRE(run(store_meta(*c.store, "png", typed("image/png", 5000), body)));
  REQUIRE(run(store_meta(*c.store, "svg", typed("IMAGE/SVG+XML", 5000), body)));
  auto gzipped = typed("text/css", 5000);
  gzipped.headers.add("Content-Encoding", "gzip");
  REQUIRE(run(store_meta(*c.store, "gzip", std::move(gzipped), body)));
  // An origin cannot forge the markers on a body stored as it came.
  auto forged = typed("image/png", 5000);
  forged.headers.add("X-Relay-Stored-Encoding", "zstd");
  REQUIRE(run(store_meta(*c.store, "forged", std::move(forged), body)));

  CHECK_FALSE(c.stored_compressed("small"));
  CHECK_FALSE(c.stored_compressed("png"));
  CHECK(c.stored_compressed("svg"));
  CHECK_FALSE(c.stored_compressed("gzip"));
  CHECK_FALSE(c.stored_compressed("forged"));
  CHECK(run(read_all(*c.store, "small")).value() == text_body(500));
  CHECK(run(read_all(*c.store, "forged")).value() == body);
}

TEST_CASE("compressed: a body other than its Content-Length is not stored") {
  Compressed c;
  CHECK_FALSE(run(store_meta(*c.store, "short", typed("text/plain", 3000), text_body(2000))));
  CHECK_FALSE(run(store_meta(*c.store, "long", typed("text/plain", 3000), text_body(4000))));
  CHECK(c.inner->stats().entries == 0);
}

TEST_CASE("compressed: update_meta keeps the entry readable") {
  Compressed c;
  auto body = text_body(100'000);
  REQUIRE(run(store_meta(*c.store, "k", typed("text/plain"), body)));
  auto hit = run(c.store->get("k"));
  REQUIRE(hit->has_value());
  auto meta = (*hit)->meta;
  meta.headers.set("X-Tag", "v2");
  REQUIRE(run(c.store->update_meta("k", meta)));
  CHECK(c.stored_compressed("k"));
  hit = run(c.store->get("k"));
  REQUIRE(hit->has_value());
  CHECK((*hit)->meta.headers.get("X-Tag") == "v2");
  CHECK((*hit)->meta.body_size == body.size());
  CHECK_FALSE(has_markers((*hit)->meta));
  CHECK(run(read_all(*c.store, "k")).value() == body);
}

TEST_CASE("compressed: damaged stored bytes are a read error") {
  Compressed c;
  auto body = text_body(100'000);
  REQUIRE(run(store_meta(*c.store, "k", typed("text/plain", body.size()), body)));
  auto stored = c.inner->find("k");
  REQUIRE(stored.has_value());
  std::string bytes = run(read_all(*c.inner, "k")).value();

  SUBCASE("garbage") { bytes = "definitely not a zstd frame"; }
  SUBCASE("truncated") { bytes.resize(bytes.size() / 2); }
  SUBCASE("flipped") { bytes[bytes.size() / 2] ^= 0x5a; }
  REQUIRE(run(store_meta(*c.inner, "k", *stored, bytes)));
  auto result = run(read_all(*c.store, "k"));
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error() == make_error_code(Errc::storage_unavailable));
}

TEST_CASE("compressed: an entry whose raw size is not yet published is a miss") {
  Compressed c;
  auto meta = typed("text/plain");
  meta.internal.encoding = BodyEncoding::zstd;
  meta.internal.pending_writer = 1;  // raw_size not published yet
  REQUIRE(run(store_meta(*c.inner, "k", std::move(meta), "x")));
  CHECK_FALSE(run(c.store->get("k"))->has_value());
}

// ---- tiers ------------------------------------------------------------------

TEST_CASE("tiered: a lower hit fills the upper store once read to the end") {
  auto upper = std::make_shared<MemoryLru>(8 << 20);
  auto lower = std::make_shared<MemoryLru>(8 << 20);
  auto tiered = make_tiered_store(upper, lower);
  CHECK(tiered->backend_name() == "memory+memory");
  std::string body(150'000, 'q');
  REQUIRE(run(store(*lower, "k", body)));

  // A reader dropped halfway leaves nothing above.
  auto hit = run(tiered->get("k"));
  REQUIRE(hit->has_value());
  REQUIRE(run((*hit)->body->read())->size() > 0);
  hit->reset();
  CHECK_FALSE(upper->find("k").has_value());

  // Filled once body_size bytes were read, without waiting for the end chunk.
  hit = run(tiered->get("k"));
  REQUIRE(hit->has_value());
  for (std::size_t got = 0; got < body.size();) got += run((*hit)->body->read())->size();
  REQUIRE(upper->find("k").has_value());
  CHECK(run(fetch(*upper, "k")) == body);
  CHECK(upper->find("k")->headers.get("X-Tag") == "v1");
}

TEST_CASE("tiered: writes reach both, the lower store outlives upper eviction") {
  std::string body(25 * 4096, 'w');  // whole pages: a memfd body is charged by the page
  auto upper = std::make_shared<MemoryLru>(MemoryLru::charge_of("k1", meta_with("v1"), body.size()) + 10);
  auto lower = std::make_shared<MemoryLru>(8 << 20);
  auto tiered = make_tiered_store(upper, lower);
  REQUIRE(run(store(*tiered, "k1", body)));
  CHECK(upper->find("k1").has_value());
  CHECK(lower->find("k1").has_value());
  REQUIRE(run(store(*tiered, "k2", body)));  // pushes k1 out of the upper store
  CHECK_FALSE(upper->find("k1").has_value());
  CHECK(run(fetch(*tiered, "k1")) == body);
  REQUIRE(upper->find("k1").has_value());  // filled back in, now pushing k2 out
  CHECK(tiered->stats().entries == 2);     // the lower store's view

  REQUIRE(run(tiered->update_meta("k1", meta_with("v2"))));
  CHECK(upper->find("k1")->headers.get("X-Tag") == "v2");
  CHECK(lower->find("k1")->headers.get("X-Tag") == "v2");
  CHECK(run(tiered->remove("k1")).value());
  CHECK_FALSE(upper->find("k1").has_value());
  CHECK_FALSE(lower->find("k1").has_value());
}

TEST_CASE("tiered: a body too large for the upper store lives below only") {
  auto upper = std::make_shared<MemoryLru>(8 << 20);
  auto lower = std::make_shared<MemoryLru>(8 << 20);
  auto tiered = make_tiered_store(make_size_limited_store(upper, 1000), lower);
  REQUIRE(run(store(*tiered, "k", "small")));
  REQUIRE(upper->find("k").has_value());
  std::string big(50'000, 'B');
  REQUIRE(run(store(*tiered, "k", big, "v2")));
  CHECK_FALSE(upper->find("k").has_value());  // the old small copy must not shadow it
  CHECK(run(fetch(*tiered, "k")) == big);
  CHECK_FALSE(upper->find("k").has_value());
}
