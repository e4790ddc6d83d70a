// The fill spool (proxy/spool.hpp): followers read every byte at every
// offset, from memory, from the spool's own file, or from the store's file
// when the store keeps the body in one; a store that lets go midway leaves
// followers whole.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "relay/proxy/spool.hpp"

using relay::proxy::Spool;

namespace {

std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return out;
}

// Everything a follower reads, from each offset in steps, matches.
void check_reads(const Spool& spool, const std::string& body, std::size_t step) {
  REQUIRE(spool.size() == body.size());
  std::string buffer;
  std::shared_ptr<const std::string> hold;
  for (std::size_t offset = 0; offset < body.size(); offset += step) {
    auto got = spool.read(offset, buffer, hold);
    REQUIRE_FALSE(got.empty());
    REQUIRE(std::string(got.data(), got.size()) == body.substr(offset, got.size()));
  }
}

// A store that keeps the body in a memfd, as the memory store does.
struct StoreFile {
  int fd = ::memfd_create("spool-test", MFD_CLOEXEC);
  ~StoreFile() { drop(); }
  void write(std::string_view bytes) { REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())); }
  void drop() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

constexpr std::size_t kChunk = 16 * 1024;

}  // namespace

TEST_CASE("spool: past its memory the body goes to a file of its own") {
  Spool spool(relay::proxy::check_spool_dir("").dir, 40 * 1024);
  const auto body = pattern(300 * 1024 + 17);
  for (std::size_t at = 0; at < body.size(); at += kChunk) REQUIRE(spool.append(std::string_view(body).substr(at, kChunk)));
  CHECK(spool.spilled());
  CHECK_FALSE(spool.reads_store());
  check_reads(spool, body, 4099);
}

TEST_CASE("spool: with the store's file, followers read it and nothing is written twice") {
  // A spool directory that cannot exist: any file of the spool's own would fail.
  Spool spool("/nonexistent/relay-spool-test", 40 * 1024);
  StoreFile store;
  const auto body = pattern(300 * 1024 + 17);
  for (std::size_t at = 0; at < body.size(); at += kChunk) {
    const auto chunk = std::string_view(body).substr(at, kChunk);
    store.write(chunk);  // the store writes first (pump)
    REQUIRE(spool.append(chunk, store.fd));
  }
  CHECK(spool.reads_store());
  // The store commits and closes its descriptor: followers read on.
  store.drop();
  check_reads(spool, body, 4099);
}

TEST_CASE("spool: a store that lets go midway leaves its followers the whole body") {
  Spool spool(relay::proxy::check_spool_dir("").dir, 40 * 1024);
  StoreFile store;
  const auto body = pattern(500 * 1024 + 5);
  const std::size_t dropped_at = 200 * 1024;
  std::shared_ptr<const std::string> hold;
  std::string buffer;
  for (std::size_t at = 0; at < body.size(); at += kChunk) {
    const auto chunk = std::string_view(body).substr(at, kChunk);
    if (at < dropped_at) {
      store.write(chunk);
      REQUIRE(spool.append(chunk, store.fd));
      if (at == dropped_at - kChunk) {
        // A follower reading from the store's file just before it goes.
        auto got = spool.read(100 * 1024, buffer, hold);
        REQUIRE(std::string(got.data(), got.size()) == body.substr(100 * 1024, got.size()));
      }
    } else {
      if (store.fd >= 0) {
        CHECK(spool.reads_store());
        store.drop();  // over its size limit: the store's writer is gone
      }
      REQUIRE(spool.append(chunk, -1));
    }
  }
  CHECK_FALSE(spool.reads_store());
  CHECK(spool.spilled());
  check_reads(spool, body, 3001);
}

TEST_CASE("spool: a store file that appears only after the spool has its own is not used") {
  // spool_memory 0: the first chunk is past memory before the store's
  // body has moved to a file; the spool keeps its own file to the end.
  Spool spool(relay::proxy::check_spool_dir("").dir, 0);
  StoreFile store;
  const auto body = pattern(100 * 1024);
  bool first = true;
  for (std::size_t at = 0; at < body.size(); at += kChunk) {
    const auto chunk = std::string_view(body).substr(at, kChunk);
    store.write(chunk);
    REQUIRE(spool.append(chunk, first ? -1 : store.fd));
    first = false;
  }
  CHECK_FALSE(spool.reads_store());
  check_reads(spool, body, 1000);
}
