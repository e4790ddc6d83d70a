// Storage contract, run against the memory backend through the async
// interface: miss, put/commit/get, abort invisibility, update_meta, remove,
// readers surviving replacement, LRU order and byte accounting.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "relay/storage/memory_lru.hpp"

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

asio::awaitable<bool> store(Storage& s, std::string key, std::string body, std::string tag = "v1") {
  auto writer = co_await s.put(key, meta_with(std::move(tag)));
  if (!writer) co_return false;
  // Several writes so multi-chunk bodies are exercised.
  for (std::size_t i = 0; i < body.size(); i += 50'000) {
    auto part = std::string_view(body).substr(i, 50'000);
    if (!co_await (*writer)->write(std::span(part.data(), part.size()))) co_return false;
  }
  co_return bool(co_await (*writer)->commit());
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
  MemoryLru s(1 << 20, 0);
  CHECK_FALSE(run(fetch(s, "k")).has_value());
}

TEST_CASE("storage: put, commit, get returns the same meta and body") {
  MemoryLru s(8 << 20, 0);
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
  MemoryLru s(1 << 20, 0);
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
  MemoryLru s(1 << 20, 0);
  REQUIRE(run(store(s, "k", "body")));
  run(s.update_meta("k", meta_with("v2")));
  auto hit = run(s.get("k"));
  REQUIRE(hit->has_value());
  CHECK((*hit)->meta.headers.get("x-tag") == "v2");
  CHECK((*hit)->meta.body_size == 4);
  CHECK(run(fetch(s, "k")) == "body");
}

TEST_CASE("storage: remove reports whether the key existed") {
  MemoryLru s(1 << 20, 0);
  REQUIRE(run(store(s, "k", "body")));
  CHECK(run(s.remove("k")).value());
  CHECK_FALSE(run(s.remove("k")).value());
  CHECK_FALSE(run(fetch(s, "k")).has_value());
}

TEST_CASE("storage: a reader keeps its object while the key is replaced") {
  MemoryLru s(1 << 20, 0);
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
  std::string body(100'000, 'b');
  auto charge = meta_charge("k1", meta_with("v1")) + body.size();
  MemoryLru s(3 * charge + 10, 0);
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
  MemoryLru s(1 << 20, 0);
  REQUIRE(run(store(s, "key", std::string(1000, 'z'))));
  auto expected = meta_charge("key", meta_with("v1")) + 1000;
  CHECK(s.stats().size_bytes == expected);
  CHECK(expected > 1000 + MemoryLru::entry_overhead);
  run(s.remove("key"));
  CHECK(s.stats().size_bytes == 0);
}

TEST_CASE("storage: objects over max_object_size or max_size are refused, the cache intact") {
  MemoryLru s(64 * 1024, 10'000);
  REQUIRE(run(store(s, "small", "x")));
  CHECK_FALSE(run(store(s, "big", std::string(20'000, 'y'))));
  CHECK_FALSE(run(fetch(s, "big")).has_value());

  MemoryLru unlimited_objects(64 * 1024, 0);
  REQUIRE(run(store(unlimited_objects, "small", "x")));
  CHECK_FALSE(run(store(unlimited_objects, "huge", std::string(100'000, 'y'))));
  CHECK(run(fetch(unlimited_objects, "small")) == "x");
  CHECK(unlimited_objects.stats().evictions == 0);
}
