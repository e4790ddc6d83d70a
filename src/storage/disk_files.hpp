// Private to the disk backend: the blocking, file-level pieces (SHA-256,
// the metadata record format, thin POSIX wrappers that report errno as
// error_code, the start-up scan that brings the cache directory back to a
// consistent state) and the in-memory index over those files. Nothing here
// knows Asio: disk_store.cpp calls these from its I/O pool (or from its
// constructor, before serving).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "relay/storage/storage.hpp"
#include "relay/util/result.hpp"

struct evp_md_ctx_st;

namespace relay::storage::disk {

// Bodies are written and read in pieces of this size: it bounds memory per
// reader and writer whatever the object size.
inline constexpr std::size_t chunk_size = 64 * 1024;

using Digest = std::array<unsigned char, 32>;

// Incremental SHA-256 (OpenSSL EVP). One instance per body; not shared.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const char> data);
  Digest finish();  // the object is spent afterwards

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
};

std::string encode_record(const std::string& key, const EntryMeta& meta, const std::string& body_hex);
// nullopt for anything malformed: wrong magic or version, truncation, a bad
// checksum, trailing bytes.
std::optional<Record> decode_record(std::string_view bytes);

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
// Fills as much of into as the file allows; 0 at end of file.
Result<std::size_t> read_some(int fd, std::span<char> into);
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
  struct Entry {
    std::string key;
    EntryMeta meta;  // cached: headers are small and it saves a read per hit
    std::string body_hex;
    std::uint64_t record_bytes = 0;
    std::list<std::string>::iterator lru{};
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

}  // namespace relay::storage::disk
