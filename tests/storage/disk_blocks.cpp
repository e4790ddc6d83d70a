// The disk store's per-block verification (src/storage/disk/blocks.hpp): a
// body damaged in place, without a size change, yields no byte of a damaged
// block, whether read whole or from an offset (a Range); a read from an
// offset skips the blocks before it; records written before block hashes
// existed (format 1) are removed at start with their bodies; with verify =
// "first_read", a body checked whole is sent from the page cache until its
// file changes or leaves the cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>
#include <vector>

#include "../../src/storage/disk/files.hpp"
#include "../../src/storage/disk/record.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::storage;
using namespace relay::storage::test;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t block = 64 * KiB;

// What a read from `offset` delivered: the bytes from `start` on, up to the
// end or the first failed read.
struct Partial {
  bool hit = false;
  std::uint64_t start = 0;  // where the reader said it begins
  std::string body;
  error_code error;  // of the failed read, if one failed
};

// Appends what reader yields to `into`, up to the end or the first failed
// read, whose error it returns.
asio::awaitable<error_code> read_rest(BodyReader& reader, std::string& into) {
  for (;;) {
    auto chunk = co_await reader.read();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) co_return error_code{};
    into.append(chunk->data(), chunk->size());
  }
}

asio::awaitable<Partial> read_from(Storage& s, std::string key, std::uint64_t offset) {
  Partial p;
  auto hit = co_await s.get(key);
  if (!hit) {
    p.error = hit.error();
    co_return p;
  }
  if (!*hit) co_return p;
  p.hit = true;
  p.start = (*hit)->body->start_at(offset);
  p.error = co_await read_rest(*(*hit)->body, p.body);
  co_return p;
}

fs::path only_object(Env& env) {
  auto files = files_under(env.disk_root() / "objects");
  REQUIRE(files.size() == 1);
  return files.front();
}

// Flips two bytes of block `index` in place: the file keeps its size.
void damage_block(const fs::path& file, std::uint64_t index) {
  const auto size = fs::file_size(file);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  for (std::uint64_t at : {index * block + 100, index * block + 40'000}) {
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  f.close();
  REQUIRE(fs::file_size(file) == size);
}

}  // namespace

TEST_CASE("disk blocks: a damaged middle block ends a full read before any of its bytes") {
  Env env(Kind::disk);
  const std::string body = random_body(1 * MiB, 601);
  must_put(env, "k", text_meta("k", body.size()), body);
  const auto object = only_object(env);
  damage_block(object, 9);
  const auto failures = env.store().stats().integrity_failures;

  auto got = env.run(read_from(env.store(), "k", 0));
  REQUIRE(got.hit);
  CHECK(got.start == 0);
  CHECK_MESSAGE(got.error == make_error_code(Errc::storage_corrupt), "read error: " << got.error.message());
  // Blocks 0-8 were verified and delivered; nothing of block 9.
  CHECK_BODY(got.body, body.substr(0, 9 * block));
  CHECK(env.store().stats().integrity_failures == failures + 1);

  CHECK_MESSAGE(is_miss(env, "k"), "the damaged entry is still there");
  std::error_code ec;
  CHECK_MESSAGE(!fs::exists(object, ec), "the damaged body file was not removed");
  must_put(env, "k", text_meta("k2", body.size()), body);
  auto again = must_fetch(env, "k");
  REQUIRE(again.has_value());
  CHECK_BODY(again->body, body);
}

TEST_CASE("disk blocks: a read from an offset starts at the block holding it") {
  Env env(Kind::disk);
  const std::string body = random_body(1 * MiB + 1000, 602);  // 17 blocks, the last one short
  must_put(env, "k", text_meta("k", body.size()), body);
  const auto failures = env.store().stats().integrity_failures;
  const std::uint64_t offset = 5 * block + 77;

  SUBCASE("an intact body reads from that block to the end") {
    auto got = env.run(read_from(env.store(), "k", offset));
    REQUIRE(got.hit);
    CHECK(got.start == 5 * block);
    CHECK_FALSE(got.error);
    CHECK_BODY(got.body, body.substr(5 * block));
  }
  SUBCASE("damage before the offset is never read (the blocks before it are skipped)") {
    damage_block(only_object(env), 2);
    auto got = env.run(read_from(env.store(), "k", offset));
    REQUIRE(got.hit);
    CHECK(got.start == 5 * block);
    CHECK_FALSE(got.error);
    CHECK_BODY(got.body, body.substr(5 * block));
    CHECK(env.store().stats().integrity_failures == failures);
    // A read that does cover block 2 finds it.
    auto whole = env.run(read_from(env.store(), "k", 0));
    CHECK(whole.error == make_error_code(Errc::storage_corrupt));
    CHECK_BODY(whole.body, body.substr(0, 2 * block));
    CHECK(is_miss(env, "k"));
  }
  SUBCASE("damage in the block holding the offset fails the first read, with no byte") {
    damage_block(only_object(env), 5);
    auto got = env.run(read_from(env.store(), "k", offset));
    REQUIRE(got.hit);
    CHECK(got.error == make_error_code(Errc::storage_corrupt));
    CHECK(got.body.empty());
    CHECK(env.store().stats().integrity_failures == failures + 1);
    CHECK(is_miss(env, "k"));
  }
  SUBCASE("damage after the offset stops the read at that block") {
    damage_block(only_object(env), 9);
    auto got = env.run(read_from(env.store(), "k", offset));
    REQUIRE(got.hit);
    CHECK(got.error == make_error_code(Errc::storage_corrupt));
    CHECK_BODY(got.body, body.substr(5 * block, 4 * block));
    CHECK(is_miss(env, "k"));
  }
  SUBCASE("an offset in the short last block, or past the end") {
    auto last = env.run(read_from(env.store(), "k", body.size() - 10));
    CHECK(last.start == 16 * block);
    CHECK_BODY(last.body, body.substr(16 * block));
    auto past = env.run(read_from(env.store(), "k", body.size() + 5));
    CHECK(past.start <= body.size());
    CHECK_BODY(past.body, body.substr(static_cast<std::size_t>(past.start)));
  }
}

TEST_CASE("disk blocks: bodies on and around block boundaries read back whole and from offsets") {
  Env env(Kind::disk);
  for (std::uint64_t size : {std::uint64_t{0}, std::uint64_t{1}, block - 1, block, block + 1, 3 * block}) {
    CAPTURE(size);
    const auto key = numbered("k", static_cast<std::int64_t>(size));
    const std::string body = random_body(size, 603 + size);
    // Pieces that straddle block boundaries, as an origin's chunks would.
    REQUIRE(env.run(put_body(env.store(), key, text_meta(key, size), body, 10'007)).has_value());
    for (std::uint64_t offset : {std::uint64_t{0}, size / 2, size > 0 ? size - 1 : 0}) {
      CAPTURE(offset);
      auto got = env.run(read_from(env.store(), key, offset));
      REQUIRE(got.hit);
      CHECK_FALSE(got.error);
      CHECK(got.start <= offset);
      CHECK(got.start % block == 0);
      CHECK_BODY(got.body, body.substr(static_cast<std::size_t>(got.start)));
    }
  }
}

TEST_CASE("disk blocks: a damaged single-block body is a miss, never a failed read") {
  Env env(Kind::disk);
  const std::string body = random_body(40'000, 604);
  must_put(env, "small", text_meta("small", body.size()), body);
  damage_block(only_object(env), 0);
  // The one block is read and checked at lookup, before a caller could send anything.
  auto got = env.run(read_from(env.store(), "small", 30'000));
  CHECK_FALSE(got.hit);
  CHECK_FALSE(got.error);
  CHECK(env.store().stats().integrity_failures == 1);
}

// What one hit offers: the body as a file (a trusted hit) or not, and the
// bytes a full read yields.
struct HitView {
  bool hit = false;
  bool as_file = false;
  std::uint64_t file_size = 0;
  std::string body;
  error_code error;
};

asio::awaitable<HitView> view_hit(Storage& s, std::string key) {
  HitView v;
  auto hit = co_await s.get(key);
  if (!hit || !*hit) co_return v;
  v.hit = true;
  if (auto file = (*hit)->body->file()) {
    v.as_file = true;
    v.file_size = file->size;
  }
  v.error = co_await read_rest(*(*hit)->body, v.body);
  co_return v;
}

// Drops the file's pages from the page cache (it is clean: written and fsynced).
void evict_from_page_cache(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Bodies are trusted only once their file has not changed for two seconds
// (mark_verified: coarse ctimes), so the tests let them age first.
void let_files_age() { std::this_thread::sleep_for(std::chrono::milliseconds(2100)); }

TEST_CASE("disk blocks: first_read sends a body checked whole from the page cache until its file changes") {
  // On a disk-backed file system, so that its pages can leave the page
  // cache (tmpfs pages cannot: they are the storage).
  Options on_disk;
  on_disk.dir_base = "/var/tmp";
  Env env(Kind::disk, on_disk);
  const std::string body = random_body(300'000, 611);
  must_put(env, "k", text_meta("k", body.size()), body);
  let_files_age();
  const auto failures = env.store().stats().integrity_failures;

  // First read: checked block by block, not offered as a file.
  auto first = env.run(view_hit(env.store(), "k"));
  REQUIRE(first.hit);
  CHECK_FALSE(first.as_file);
  CHECK_BODY(first.body, body);
  // Now trusted: the whole body as a file, and read() still yields it.
  auto second = env.run(view_hit(env.store(), "k"));
  REQUIRE(second.hit);
  CHECK(second.as_file);
  CHECK(second.file_size == body.size());
  CHECK_BODY(second.body, body);

  SUBCASE("a change to the file (its ctime moves) withdraws the trust, and damage is found") {
    damage_block(only_object(env), 3);
    auto damaged = env.run(view_hit(env.store(), "k"));
    REQUIRE(damaged.hit);
    CHECK_FALSE(damaged.as_file);
    CHECK(damaged.error == make_error_code(Errc::storage_corrupt));
    CHECK_BODY(damaged.body, body.substr(0, 3 * block));
    CHECK(env.store().stats().integrity_failures == failures + 1);
    CHECK(is_miss(env, "k"));
  }
  SUBCASE("a change that leaves the bytes alone still means a check, then trust again") {
    const auto object = only_object(env);
    REQUIRE(::chmod(object.c_str(), 0640) == 0);
    auto changed = env.run(view_hit(env.store(), "k"));
    CHECK_FALSE(changed.as_file);
    CHECK_BODY(changed.body, body);
    let_files_age();
    CHECK_FALSE(env.run(view_hit(env.store(), "k")).as_file);  // the check that trusts it again
    CHECK(env.run(view_hit(env.store(), "k")).as_file);
  }
  SUBCASE("pages that left the page cache are read from the disk and checked again") {
    const auto object = only_object(env);
    evict_from_page_cache(object);
    const int fd = ::open(object.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const bool cached = disk::fully_cached(fd, body.size());
    ::close(fd);
    REQUIRE_MESSAGE(!cached, object << " is still in the page cache: not on a disk-backed file system?");
    auto reread = env.run(view_hit(env.store(), "k"));
    CHECK_FALSE(reread.as_file);
    CHECK_BODY(reread.body, body);
    CHECK(env.run(view_hit(env.store(), "k")).as_file);
  }
}

TEST_CASE("disk files: cachestat and the mincore fallback agree on whether a file is in the page cache") {
  TempDir dir("/var/tmp");  // disk-backed: tmpfs pages cannot leave the cache
  const auto path = dir.path() / "body";
  const std::uint64_t size = 20 * MiB + 123;  // more than one mincore window (16 MiB)
  {
    std::ofstream out(path, std::ios::binary);
    const std::string chunk = random_body(1 * MiB, 614);
    for (std::uint64_t left = size; left > 0;) {
      const auto n = std::min<std::uint64_t>(left, chunk.size());
      out.write(chunk.data(), static_cast<std::streamsize>(n));
      left -= n;
    }
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::fsync(fd) == 0);  // clean pages, which DONTNEED drops
  std::vector<char> sink(1 * MiB);
  for (std::uint64_t at = 0; at < size; at += sink.size())
    REQUIRE(::pread(fd, sink.data(), sink.size(), static_cast<off_t>(at)) > 0);
  CHECK(disk::fully_cached(fd, size));
  CHECK(disk::fully_cached_by_mincore(fd, size));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  CHECK_FALSE(disk::fully_cached(fd, size));
  CHECK_FALSE(disk::fully_cached_by_mincore(fd, size));
  // The first window's pages back in the cache, the rest not (no readahead
  // filling it in): still not all of it, whichever window a page is missing from.
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  for (std::uint64_t at = 0; at < 17 * MiB; at += sink.size())
    REQUIRE(::pread(fd, sink.data(), sink.size(), static_cast<off_t>(at)) > 0);
  CHECK_FALSE(disk::fully_cached(fd, size));
  CHECK_FALSE(disk::fully_cached_by_mincore(fd, size));
  ::close(fd);
}

TEST_CASE("disk blocks: a read from an offset or a recent file earns no trust; every_read never trusts") {
  SUBCASE("first_read") {
    Env env(Kind::disk);
    const std::string body = random_body(300'000, 612);
    must_put(env, "k", text_meta("k", body.size()), body);
    // Written moments ago: checked whole, yet checked again next time.
    CHECK_BODY(env.run(view_hit(env.store(), "k")).body, body);
    CHECK_FALSE(env.run(view_hit(env.store(), "k")).as_file);
    let_files_age();
    // Only the blocks from the offset on were checked.
    auto part = env.run(read_from(env.store(), "k", 2 * block + 5));
    CHECK_BODY(part.body, body.substr(2 * block));
    CHECK_FALSE(env.run(view_hit(env.store(), "k")).as_file);  // this whole read checks every block
    CHECK(env.run(view_hit(env.store(), "k")).as_file);
  }
  SUBCASE("every_read") {
    Options options;
    options.disk_verify = config::DiskVerify::EveryRead;
    Env env(Kind::disk, options);
    const std::string body = random_body(300'000, 613);
    must_put(env, "k", text_meta("k", body.size()), body);
    let_files_age();
    for (int i = 0; i < 3; ++i) {
      auto got = env.run(view_hit(env.store(), "k"));
      CHECK_FALSE(got.as_file);
      CHECK_BODY(got.body, body);
    }
  }
}

TEST_CASE("disk blocks: records of the format without block hashes are removed at start, with their bodies") {
  Env env(Kind::disk);
  const auto root = env.disk_root();
  const std::string body = random_body(200'000, 605);
  must_put(env, "current", text_meta("current", body.size()), body);
  env.close();

  // A record exactly as format 1 wrote it (no block hashes), and its body.
  const std::string key = "written-by-an-older-relay";
  const std::string old_body = random_body(150'000, 606);
  const disk::Layout layout{root};
  const auto body_hex = disk::sha256_hex(old_body);
  auto put_u = [](std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto put_str = [&](std::string& out, std::string_view s) {
    put_u(out, s.size(), 4);
    out.append(s);
  };
  std::string payload;
  put_str(payload, key);
  put_u(payload, 200, 4);
  put_str(payload, "OK");
  put_u(payload, 1, 4);
  put_str(payload, "Content-Type");
  put_str(payload, "text/plain");
  const auto now_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                     std::chrono::system_clock::now().time_since_epoch())
                                                     .count());
  put_u(payload, now_ns, 8);
  put_u(payload, now_ns, 8);
  put_u(payload, 0, 8);
  put_u(payload, old_body.size(), 8);
  put_str(payload, body_hex);
  std::string record = "RLYM";
  put_u(record, 1, 2);
  put_u(record, 0, 2);
  put_u(record, payload.size(), 4);
  record += payload;
  disk::Sha256 sum;
  sum.update(record);
  auto digest = sum.finish();
  record.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  const auto old_record = layout.record_path(disk::sha256_hex(key));
  const auto old_object = layout.object_path(body_hex);
  std::ofstream(old_record, std::ios::binary) << record;
  std::ofstream(old_object, std::ios::binary) << old_body;

  // And a current-format record whose block list does not fit its body.
  const std::string short_key = "short-block-list";
  auto meta = text_meta(short_key, old_body.size());
  meta.body_size = old_body.size();
  std::ofstream(layout.record_path(disk::sha256_hex(short_key)), std::ios::binary)
      << disk::encode_record(short_key, meta, body_hex, std::string(32, 'x'));

  env.reopen();
  std::error_code ec;
  CHECK_MESSAGE(!fs::exists(old_record, ec), "a format 1 record survived the start");
  CHECK_MESSAGE(!fs::exists(layout.record_path(disk::sha256_hex(short_key)), ec),
                "a record with a block list of the wrong length survived the start");
  CHECK_MESSAGE(!fs::exists(old_object, ec), "the body only old records named survived the start");
  CHECK(is_miss(env, key));
  CHECK(is_miss(env, short_key));
  CHECK(env.store().stats().entries == 1);
  auto current = must_fetch(env, "current");
  REQUIRE(current.has_value());
  CHECK_BODY(current->body, body);

  // The key is stored again in the current format.
  must_put(env, key, text_meta(key, old_body.size()), old_body);
  auto again = env.run(read_from(env.store(), key, 100'000));
  REQUIRE(again.hit);
  CHECK_FALSE(again.error);
  CHECK_BODY(again.body, old_body.substr(static_cast<std::size_t>(again.start)));
}
