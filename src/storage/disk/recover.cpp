// The disk backend's start-up scan: creates the directory tree, empties
// tmp/, loads meta/ and deletes whatever cannot be served (records that are
// unreadable, of an older format, misplaced, expired or bodiless, and
// bodies no record names). Blocking; runs in DiskStore's constructor.
#include "recover.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>
#include <utility>

namespace relay::storage::disk {
namespace fs = std::filesystem;

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
