// The disk backend's file-level pieces: the record format, POSIX wrappers
// and the start-up scan (the index itself is in disk_files.hpp; hashing in
// disk_blocks.cpp). All of it blocks; disk_store.cpp decides where it runs.
//
// Record format (meta/ab/cdef..., one per key), all integers little-endian:
//   "RLYM"  u16 version (3)  u16 flags (0)  u32 payload length
//   payload: str key, u32 status, str reason, u32 field count,
//            count x (str name, str value), i64 request_time (ns since epoch),
//            i64 response_time (ns), i64 keep_for (s), u64 body size,
//            internal meta: u8 kind, str vary names, str vary generation,
//            u8 encoding, u8 raw size known, u64 raw size, u64 pending writer,
//            str body hash (64 hex digits),
//            str block hashes (32-byte SHA-256 of each 64 KiB block, in order)
//   32 bytes: SHA-256 of everything before it
// where str = u32 length + bytes. The key is inside so the index can be
// rebuilt from the files alone and a file-name collision is detectable; the
// trailing checksum catches bit rot a rename cannot. Version 1 (no block
// hashes) and version 2 (storage facts as X-Relay-* header fields, Vary
// indexes as entries with status 0) are not read: such records are removed
// at start like any debris, and their bodies with them, so an upgrade
// starts from an empty cache rather than misread what it finds.
#include "disk_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "disk_blocks.hpp"

namespace relay::storage::disk {
namespace fs = std::filesystem;

namespace {

constexpr char magic[4] = {'R', 'L', 'Y', 'M'};
constexpr std::size_t record_head = 12;             // magic, version, flags, length

error_code last_error() {
  return error_code(errno, boost::system::system_category());
}

void put_u(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_str(std::string& out, std::string_view s) {
  put_u(out, s.size(), 4);
  out.append(s);
}

std::int64_t ns_since_epoch(SysTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Reads the record payload front to back; any overrun sets failed.
struct Cursor {
  std::string_view rest;
  bool failed = false;

  std::uint64_t u(int bytes) {
    if (rest.size() < static_cast<std::size_t>(bytes)) {
      failed = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(rest[i])} << (8 * i);
    rest.remove_prefix(bytes);
    return v;
  }
  std::string str() {
    auto n = u(4);
    if (failed || rest.size() < n) {
      failed = true;
      return {};
    }
    std::string s(rest.substr(0, n));
    rest.remove_prefix(n);
    return s;
  }
};

}  // namespace

std::string encode_record(const std::string& key, const EntryMeta& meta, const std::string& body_hex,
                          std::string_view blocks) {
  std::string payload;
  payload.reserve(128 + key.size() + meta.reason.size());
  put_str(payload, key);
  put_u(payload, static_cast<std::uint32_t>(meta.status), 4);
  put_str(payload, meta.reason);
  put_u(payload, meta.headers.size(), 4);
  for (const auto& f : meta.headers) {
    put_str(payload, f.name);
    put_str(payload, f.value);
  }
  put_u(payload, static_cast<std::uint64_t>(ns_since_epoch(meta.request_time)), 8);
  put_u(payload, static_cast<std::uint64_t>(ns_since_epoch(meta.response_time)), 8);
  put_u(payload, static_cast<std::uint64_t>(meta.keep_for.count()), 8);
  put_u(payload, meta.body_size, 8);
  const auto& internal = meta.internal;
  put_u(payload, static_cast<std::uint8_t>(internal.kind), 1);
  put_str(payload, internal.vary.names);
  put_str(payload, internal.vary.generation);
  put_u(payload, static_cast<std::uint8_t>(internal.encoding), 1);
  put_u(payload, internal.raw_size ? 1 : 0, 1);
  put_u(payload, internal.raw_size.value_or(0), 8);
  put_u(payload, internal.pending_writer, 8);
  put_str(payload, body_hex);
  put_str(payload, blocks);

  std::string out(magic, sizeof magic);
  put_u(out, current_record_version, 2);
  put_u(out, 0, 2);
  put_u(out, payload.size(), 4);
  out += payload;
  Sha256 sum;
  sum.update(out);
  auto digest = sum.finish();
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

std::optional<Record> decode_record(std::string_view bytes) {
  if (bytes.size() < record_head + 32 || bytes.substr(0, 4) != std::string_view(magic, 4))
    return std::nullopt;
  Cursor head{bytes.substr(4, 8)};
  auto version = head.u(2);
  head.u(2);  // flags: none defined yet
  auto length = head.u(4);
  if (version != current_record_version || bytes.size() != record_head + length + 32) return std::nullopt;
  Sha256 sum;
  sum.update(bytes.substr(0, record_head + length));
  auto digest = sum.finish();
  if (std::memcmp(digest.data(), bytes.data() + record_head + length, digest.size()) != 0)
    return std::nullopt;

  Cursor in{bytes.substr(record_head, length)};
  Record r;
  r.key = in.str();
  r.meta.status = static_cast<int>(static_cast<std::int32_t>(in.u(4)));
  r.meta.reason = in.str();
  auto fields = in.u(4);
  // Each field needs at least 8 bytes: refuse counts the payload cannot hold.
  if (fields > in.rest.size() / 8) return std::nullopt;
  for (std::uint64_t i = 0; i < fields && !in.failed; ++i) {
    auto name = in.str();
    auto value = in.str();
    r.meta.headers.add(std::move(name), std::move(value));
  }
  auto as_time = [](std::uint64_t ns) {
    return SysTime(std::chrono::duration_cast<SysTime::duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
  };
  r.meta.request_time = as_time(in.u(8));
  r.meta.response_time = as_time(in.u(8));
  r.meta.keep_for = std::chrono::seconds(static_cast<std::int64_t>(in.u(8)));
  r.meta.body_size = in.u(8);
  auto& internal = r.meta.internal;
  auto kind = in.u(1);
  internal.vary.names = in.str();
  internal.vary.generation = in.str();
  auto encoding = in.u(1);
  auto raw_known = in.u(1);
  auto raw_size = in.u(8);
  internal.pending_writer = in.u(8);
  if (kind > static_cast<std::uint8_t>(EntryKind::vary_index) ||
      encoding > static_cast<std::uint8_t>(BodyEncoding::zstd) || raw_known > 1)
    return std::nullopt;
  internal.kind = static_cast<EntryKind>(kind);
  internal.encoding = static_cast<BodyEncoding>(encoding);
  if (raw_known) internal.raw_size = raw_size;
  r.body_hex = in.str();
  r.blocks = in.str();
  if (in.failed || !in.rest.empty() || !is_digest_hex(r.body_hex) || !blocks_fit(r.blocks, r.meta.body_size))
    return std::nullopt;
  return r;
}

std::optional<std::uint16_t> record_version(std::string_view bytes) {
  if (bytes.size() < record_head || bytes.substr(0, 4) != std::string_view(magic, 4)) return std::nullopt;
  Cursor head{bytes.substr(4, 2)};
  return static_cast<std::uint16_t>(head.u(2));
}

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<TmpFile> create_tmp(const fs::path& dir, std::string_view prefix) {
  std::string path = (dir / prefix).string() + "XXXXXX";
  int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return last_error();
  return TmpFile{Fd(fd), std::move(path)};
}

Result<Fd> open_read(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return last_error();
  return Fd(fd);
}

error_code write_all(int fd, std::span<const char> data) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::size_t> read_some(int fd, std::span<char> into, std::uint64_t offset) {
  std::size_t got = 0;
  while (got < into.size()) {
    auto n = ::pread(fd, into.data() + got, into.size() - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

Result<std::uint64_t> file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_error();
  return static_cast<std::uint64_t>(st.st_size);
}

error_code sync_fd(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return last_error();
  }
  return {};
}

error_code sync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return last_error();
  return sync_fd(fd.get());
}

error_code rename_file(const std::string& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return last_error();
  return {};
}

void remove_file(const fs::path& path) noexcept {
  ::unlink(path.c_str());
}

Result<std::string> write_durable_tmp(const fs::path& dir, std::string_view prefix, std::string_view bytes) {
  auto tmp = create_tmp(dir, prefix);
  if (!tmp) return tmp.error();
  error_code ec = write_all(tmp->fd.get(), bytes);
  if (!ec) ec = sync_fd(tmp->fd.get());
  if (!ec && ::close(tmp->fd.release()) != 0) ec = last_error();
  if (ec) {
    remove_file(tmp->path);
    return ec;
  }
  return std::move(tmp->path);
}

std::optional<std::uint64_t> free_space(const fs::path& path) noexcept {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

namespace {

std::optional<std::string> read_small_file(const fs::path& path) {
  auto fd = open_read(path);
  if (!fd) return std::nullopt;
  auto size = file_size(fd->get());
  if (!size || *size > max_record_bytes) return std::nullopt;
  std::string bytes(*size, '\0');
  auto got = read_some(fd->get(), bytes, 0);
  if (!got || *got != bytes.size()) return std::nullopt;
  return bytes;
}

void make_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("disk storage: cannot create " + dir.string() + ": " + ec.message());
}

void remove_any(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

// Calls fn(hex name, entry) for each file under area/xx/; anything there
// that is not named like ours is removed and counted in junk.
template <class Fn>
void for_each_fanned(const fs::path& area, std::uint64_t& junk, Fn fn) {
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(area, ec)) {
    auto prefix = dir.path().filename().string();
    if (prefix.size() != 2 || !dir.is_directory(ec)) continue;
    for (const auto& e : fs::directory_iterator(dir.path(), ec)) {
      auto name = prefix + e.path().filename().string();
      if (is_digest_hex(name) && e.is_regular_file(ec)) {
        fn(name, e);
      } else {
        remove_any(e.path());
        ++junk;
      }
    }
  }
}

}  // namespace

Scan recover(const Layout& layout, SysTime now) {
  Scan scan;
  // All 256 fan-out directories exist from the start, so a commit never has
  // to create (and fsync) a parent directory.
  static constexpr char digits[] = "0123456789abcdef";
  for (const char* area : {"objects", "meta"}) {
    for (int i = 0; i < 256; ++i) make_dir(layout.root / area / std::string{digits[i >> 4], digits[i & 15]});
  }
  make_dir(layout.tmp());
  auto probe = create_tmp(layout.tmp(), "probe.");
  if (!probe)
    throw std::runtime_error("disk storage: " + layout.root.string() +
                             " is not writable: " + probe.error().message());
  remove_file(probe->path);

  // Anything in tmp/ is an interrupted write: never published, so debris.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(layout.tmp(), ec)) {
    remove_any(e.path());
    ++scan.tmp_removed;
  }

  std::unordered_map<std::string, std::uint64_t> bodies;
  for_each_fanned(layout.root / "objects", scan.orphans,
                  [&](const std::string& name, const fs::directory_entry& e) {
                    std::error_code sz;
                    auto size = e.file_size(sz);
                    if (sz) return remove_any(e.path());
                    bodies.emplace(name, size);
                  });

  for_each_fanned(
      layout.root / "meta", scan.bad_records, [&](const std::string& name, const fs::directory_entry& e) {
        auto bytes = read_small_file(e.path());
        auto record = bytes ? decode_record(*bytes) : std::nullopt;
        // A record under another key's name (moved, or a hash collision) would
        // be served for the wrong key; one whose body is gone or of another
        // size cannot be served at all.
        auto body = record ? bodies.find(record->body_hex) : bodies.end();
        if (!record || sha256_hex(record->key) != name || body == bodies.end() ||
            body->second != record->meta.body_size) {
          remove_any(e.path());
          ++scan.bad_records;
          if (auto v = bytes ? record_version(*bytes) : std::nullopt; v && *v < current_record_version)
            ++scan.old_records;
          return;
        }
        const auto& m = record->meta;
        if (expired(m, now)) {
          remove_file(e.path());
          ++scan.expired;
          return;
        }
        std::error_code te;
        scan.records.push_back(Recovered{name, std::move(*record), bytes->size(), e.last_write_time(te)});
      });
  std::stable_sort(scan.records.begin(), scan.records.end(),
                   [](const Recovered& a, const Recovered& b) { return a.mtime < b.mtime; });

  std::unordered_set<std::string> named;
  for (const auto& r : scan.records) named.insert(r.record.body_hex);
  for (auto& [hex, size] : bodies) {
    if (named.contains(hex)) {
      scan.objects.emplace(hex, size);
    } else {
      remove_file(layout.object_path(hex));
      ++scan.orphans;
      scan.orphan_bytes += size;
    }
  }
  return scan;
}

}  // namespace relay::storage::disk
