// Private to the disk backend: the blocking, file-level pieces (SHA-256,
// the metadata record format, thin POSIX wrappers that report errno as
// error_code, the start-up scan that brings the cache directory back to a
// consistent state) and the in-memory index over those files with the
// locked operations that change both. Nothing here knows Asio: disk_store.cpp
// calls these from its I/O pool (or from its constructor, before serving).
// Hashing and the per-block verification of bodies are in disk_blocks.hpp.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "relay/storage/maintenance.hpp"
#include "relay/storage/storage.hpp"
#include "relay/util/log.hpp"
#include "relay/util/result.hpp"

struct evp_md_ctx_st;

namespace relay::storage::disk {

// Bodies are written, hashed and read in blocks of this size: it bounds
// memory per reader and writer whatever the object size, and it is the unit
// of verification (disk_blocks.hpp): block i is bytes [i * block_size,
// (i + 1) * block_size) of the body, the last one possibly shorter.
inline constexpr std::size_t block_size = 64 * 1024;

using Digest = std::array<unsigned char, 32>;

// A record is read whole at start, so its size is bounded. What grows with
// the body is its block list (32 bytes per block): bodies are limited so the
// list takes at most half a record, 32 MiB for a 64 GiB body. The rest is
// far above any real header block.
inline constexpr std::size_t max_record_bytes = 64 << 20;
inline constexpr std::uint64_t max_body_size =
    std::uint64_t{max_record_bytes / 2 / std::tuple_size_v<Digest>} * block_size;

// The SHA-256 of each block of a body, concatenated in body order (32 bytes
// per block, none for an empty body). Immutable once made, so the index and
// every reader of the entry share one copy.
using BlockList = std::shared_ptr<const std::string>;

// Incremental SHA-256 (OpenSSL EVP; disk_blocks.cpp). Not shared between threads.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const char> data);
  Digest finish();  // and starts over: the object hashes the next message

 private:
  evp_md_ctx_st* ctx_;
};

std::string to_hex(const Digest& digest);
std::string sha256_hex(std::string_view data);
bool is_digest_hex(std::string_view name) noexcept;

// Where things live under the cache root. Both objects/ and meta/ fan out
// by the first two hex digits so no directory grows past a few thousand
// names for a typical cache.
struct Layout {
  std::filesystem::path root;

  std::filesystem::path tmp() const { return root / "tmp"; }
  std::filesystem::path object_dir(std::string_view hex) const { return root / "objects" / hex.substr(0, 2); }
  std::filesystem::path record_dir(std::string_view hex) const { return root / "meta" / hex.substr(0, 2); }
  std::filesystem::path object_path(std::string_view hex) const { return object_dir(hex) / hex.substr(2); }
  std::filesystem::path record_path(std::string_view hex) const { return record_dir(hex) / hex.substr(2); }
};

// A decoded metadata record: everything needed to serve and re-index a key.
struct Record {
  std::string key;
  EntryMeta meta;        // meta.body_size is the body's size
  std::string body_hex;  // SHA-256 of the body: its name under objects/
  std::string blocks;    // the body's BlockList
};

std::string encode_record(const std::string& key, const EntryMeta& meta, const std::string& body_hex,
                          std::string_view blocks);
// nullopt for anything malformed: wrong magic or version, truncation, a bad
// checksum, trailing bytes, a block list that does not fit the body size.
std::optional<Record> decode_record(std::string_view bytes);
// The format version of something that starts like a record, else nullopt.
std::optional<std::uint16_t> record_version(std::string_view bytes);
inline constexpr std::uint16_t current_record_version = 3;

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;  // closes the current one

 private:
  int fd_ = -1;
};

struct TmpFile {
  Fd fd;
  std::string path;
};

// A fresh, exclusively created file in dir, named prefix + random suffix.
Result<TmpFile> create_tmp(const std::filesystem::path& dir, std::string_view prefix);
Result<Fd> open_read(const std::filesystem::path& path);
error_code write_all(int fd, std::span<const char> data);
// Fills as much of into as the file allows from offset on; 0 at end of file.
Result<std::size_t> read_some(int fd, std::span<char> into, std::uint64_t offset);
Result<std::uint64_t> file_size(int fd);
error_code sync_fd(int fd);
error_code sync_dir(const std::filesystem::path& dir);
error_code rename_file(const std::string& from, const std::filesystem::path& to);
void remove_file(const std::filesystem::path& path) noexcept;
// Writes bytes to a new file in dir and fsyncs it; returns its path.
Result<std::string> write_durable_tmp(const std::filesystem::path& dir, std::string_view prefix,
                                      std::string_view bytes);
// Bytes available to unprivileged writers on the file system holding path.
std::optional<std::uint64_t> free_space(const std::filesystem::path& path) noexcept;

inline error_code unavailable() {
  return make_error_code(Errc::storage_unavailable);
}

// Logs an I/O failure; the caller sees only storage_unavailable.
inline error_code io_failure(std::string_view what, const error_code& ec) {
  log::warn("disk storage: ", what, ": ", ec.message());
  return unavailable();
}

// What the start-up scan found, already made consistent on disk: every
// record listed names an existing body of the right size, and every body
// left under objects/ is named by some record.
struct Recovered {
  std::string name;  // hex of SHA-256(key): the record's file name
  Record record;
  std::uint64_t record_bytes = 0;
  std::filesystem::file_time_type mtime;
};

struct Scan {
  std::vector<Recovered> records;                          // oldest first
  std::unordered_map<std::string, std::uint64_t> objects;  // body hex -> size
  std::uint64_t tmp_removed = 0;
  std::uint64_t bad_records = 0;  // unreadable, corrupt, misplaced or bodiless
  std::uint64_t old_records = 0;  // of those, written in an older format
  std::uint64_t expired = 0;      // keep_for already passed
  std::uint64_t orphans = 0;      // bodies no record named
  std::uint64_t orphan_bytes = 0;
};

// Creates the directory tree, empties tmp/, loads meta/, deletes what is
// unusable. Throws std::runtime_error when the root cannot be used at all.
Scan recover(const Layout& layout, SysTime now);

// What meta/ and objects/ hold, in memory: key -> record, body -> users,
// LRU order and sizes. One mutex guards it, and every rename or unlink that
// changes what it describes happens under that mutex, so index and files
// never disagree (a body cannot be unlinked between a commit's "an identical
// body is there, drop my copy" and its record naming it). Slow work —
// writing, fsync, reading — happens outside. *_locked expect the mutex held.
struct Index {
  // The block list is kept too: 32 bytes per 64 KiB of body (0.05% of the
  // cache size in memory), so a hit reads nothing but the body it serves.
  struct Entry {
    std::string key;
    EntryMeta meta;  // cached: headers are small and it saves a read per hit
    std::string body_hex;
    BlockList blocks;
    std::uint64_t record_bytes = 0;
    std::list<std::string>::iterator lru{};
    std::chrono::steady_clock::time_point touched{};  // last time the record's mtime was bumped
  };
  struct Object {
    std::uint64_t size = 0;
    std::uint32_t refs = 0;  // records naming it
    std::uint32_t pins = 0;  // commits between placing it and their record
  };
  using EntryIt = std::unordered_map<std::string, Entry>::iterator;

  Index(Layout where, std::uint64_t max_bytes) : layout(std::move(where)), max_size(max_bytes) {}

  Layout layout;
  std::uint64_t max_size = 0;  // bodies (each distinct one once) + records
  mutable std::mutex mutex;
  std::unordered_map<std::string, Entry> entries;   // record name (hex SHA-256 of key) -> entry
  std::unordered_map<std::string, Object> objects;  // body hex -> its users
  std::list<std::string> lru;                       // record names, most recent first
  std::uint64_t size = 0;
  std::uint64_t evictions = 0, expirations = 0, integrity_failures = 0;

  // Blocking. Publishes a committed body (fsynced, in tmp/) under key: the
  // body is renamed into objects/ (or dropped for an identical one already
  // there) and its directory synced before install() writes the record, so
  // no durable record can name a body that is not durably complete.
  error_code publish(const std::string& key, EntryMeta meta, const std::string& body_hex, BlockList blocks,
                     const std::string& body_tmp) {
    // Put the body in place, or find an identical one there, and pin it so no
    // removal can unlink it before our record names it.
    bool duplicate = false;
    error_code ec;
    {
      std::lock_guard lock(mutex);
      auto [it, fresh] = objects.try_emplace(body_hex);
      duplicate = !fresh;
      if (fresh) ec = rename_file(body_tmp, layout.object_path(body_hex));
      if (fresh && ec) {
        objects.erase(it);
      } else {
        if (fresh) size += it->second.size = meta.body_size;
        ++it->second.pins;
      }
    }
    if (duplicate || ec) remove_file(body_tmp);
    if (ec) return io_failure("placing a body", ec);
    // The body's name must be durable before any durable record names it.
    if (auto e = sync_dir(layout.object_dir(body_hex))) {
      std::lock_guard lock(mutex);
      release_object_locked(body_hex, true);
      return io_failure("syncing objects/", e);
    }
    return install(key, std::move(meta), body_hex, std::move(blocks), true);
  }

  // Blocking. Writes key's record naming body_hex (whose blocks hash to
  // blocks) and points the index at it; pinned = a commit's freshly placed
  // body (the pin is released here).
  error_code install(const std::string& key, EntryMeta meta, const std::string& body_hex, BlockList blocks,
                     bool pinned) {
    auto name = sha256_hex(key);
    auto bytes = encode_record(key, meta, body_hex, *blocks);
    bool too_large = meta.body_size + bytes.size() > max_size;
    auto tmp = too_large ? Result<std::string>(make_error_code(Errc::object_too_large))
                         : write_durable_tmp(layout.tmp(), "m.", bytes);
    error_code ec = tmp ? error_code{} : tmp.error();
    bool applied = false;
    {
      std::lock_guard lock(mutex);
      auto it = find_locked(name, key);
      // A new body always lands; a head update only onto the entry it was
      // made for (replaced or removed meanwhile, the newer state wins).
      bool wanted = pinned || (it != entries.end() && it->second.body_hex == body_hex);
      if (!ec && wanted) ec = rename_file(*tmp, layout.record_path(name));
      applied = !ec && wanted;
      if (applied) {
        ++objects[body_hex].refs;  // an older entry's reference leaves with it
        set_entry_locked(name, Entry{key, std::move(meta), body_hex, std::move(blocks), bytes.size(), {}});
      }
      if (pinned) release_object_locked(body_hex, true);
    }
    if (tmp && !applied) remove_file(*tmp);
    if (too_large) return ec;
    if (ec) return io_failure("storing a record", ec);
    // Only durability is at stake here: the index is already consistent.
    if (auto e = applied ? sync_dir(layout.record_dir(name)) : error_code{})
      log::warn("disk storage: syncing meta/: ", e.message());
    return {};
  }

  // The entry at name if it is key's: another key there is a collision.
  EntryIt find_locked(const std::string& name, const std::string& key) {
    auto it = entries.find(name);
    return it != entries.end() && it->second.key == key ? it : entries.end();
  }

  // Points name at a record already in meta/ whose body has been given one
  // more reference for it, replacing any older entry; then makes room.
  void set_entry_locked(const std::string& name, Entry entry) {
    if (auto old = entries.find(name); old != entries.end()) erase_entry_locked(old, false);
    lru.push_front(name);
    entry.lru = lru.begin();
    size += entry.record_bytes;
    entries.emplace(name, std::move(entry));
    // The newest entry stays even if alone it overflows: commits refuse
    // bodies that cannot fit, so that only happens on a shrunk max_size.
    while (size > max_size && lru.size() > 1) {
      erase_entry_locked(entries.find(lru.back()), true);
      ++evictions;
    }
  }

  EntryIt erase_entry_locked(EntryIt it, bool unlink_record) {
    if (unlink_record) remove_file(layout.record_path(it->first));
    size -= it->second.record_bytes;
    lru.erase(it->second.lru);
    auto body_hex = std::move(it->second.body_hex);
    auto next = entries.erase(it);
    release_object_locked(body_hex, false);
    return next;
  }

  // Every record naming a body that proved bad shares its fault.
  void drop_body_locked(const std::string& body_hex) {
    for (auto e = entries.begin(); e != entries.end();) {
      e = e->second.body_hex == body_hex ? erase_entry_locked(e, true) : std::next(e);
    }
  }

  // Takes in what the start-up scan found; records come oldest first, so
  // record mtime is the LRU order (hits bump it lazily: see DiskStore::load).
  void adopt(Scan& scan) {
    std::lock_guard lock(mutex);
    for (auto& [hex, bytes] : scan.objects) {
      objects.emplace(hex, Object{bytes, 0, 0});
      size += bytes;
    }
    for (auto& r : scan.records) {
      ++objects[r.record.body_hex].refs;
      auto blocks = std::make_shared<const std::string>(std::move(r.record.blocks));
      set_entry_locked(r.name, Entry{std::move(r.record.key),
                                     std::move(r.record.meta),
                                     r.record.body_hex,
                                     std::move(blocks),
                                     r.record_bytes,
                                     {}});
    }
  }

  Stats stats() const {
    std::lock_guard lock(mutex);
    return Stats{entries.size(), size, evictions, expirations, integrity_failures};
  }

  // Drops a reference (or a commit's pin); the last one unlinks the body.
  void release_object_locked(const std::string& body_hex, bool pin) {
    auto it = objects.find(body_hex);
    if (it == objects.end()) return;
    auto& use = pin ? it->second.pins : it->second.refs;
    if (use > 0) --use;
    if (it->second.refs != 0 || it->second.pins != 0) return;
    remove_file(layout.object_path(body_hex));
    size -= it->second.size;
    objects.erase(it);
  }
};

// Blocking. Removes every entry whose keep_for has passed (a body goes with
// its last record, through the index's reference counts) and every file in
// tmp/ last written before tmp_cutoff. Takes the index mutex in short
// batches, so event-loop threads looking entries up are never held for
// long; an entry replaced by a fresh commit meanwhile is left alone.
SweepReport sweep(Index& index, SysTime now, std::filesystem::file_time_type tmp_cutoff);

}  // namespace relay::storage::disk
