// Private to disk/: the in-memory index over meta/ and objects/, with the
// locked operations that change index and files together (index.cpp).
// Nothing here knows Asio: disk/store.cpp calls these from its I/O pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "files.hpp"
#include "hash.hpp"
#include "recover.hpp"
#include "relay/storage/clock.hpp"
#include "relay/storage/maintenance.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage::disk {

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
    // Set when a read has matched every block against its hash: the file as
    // it was then. A hit on the same stamp whose pages are all still in the
    // page cache is sent without reading or hashing (storage.disk.verify).
    std::optional<FileStamp> verified;
    // That file, kept open once a hit found it trusted: later hits check its
    // stamp and page cache and send it from the event loop, with no hop to
    // the I/O threads (DiskStore::trusted_hit). Dropped when either check fails.
    std::shared_ptr<const Fd> open;
  };
  using EntryIt = std::map<std::string, Entry>::iterator;

  Index(Layout where, std::uint64_t max_bytes, Clock now)
      : layout(std::move(where)), max_size(max_bytes), clock(std::move(now)) {}

  Layout layout;
  std::uint64_t max_size = 0;  // bodies (each distinct one once) + records
  // The store's clock: a record's mtime is its entry's last use by it.
  Clock clock;
  mutable std::mutex mutex;
  // Ordered so a purge walk can resume after a slice from the next name,
  // whatever was added or removed meanwhile (purge.cpp).
  std::map<std::string, Entry> entries;             // record name (hex SHA-256 of key) -> entry
  // Kept with entries by set_entry_locked / erase_entry_locked; rebuilt
  // from the records at start, which carry the tags.
  std::unordered_map<std::string, std::set<std::string>> tags;  // tag -> record names
  std::unordered_map<std::string, Object> objects;  // body hex -> its users
  std::list<std::string> lru;                       // record names, most recent first
  std::uint64_t size = 0;
  std::uint64_t evictions = 0, expirations = 0, integrity_failures = 0;

  // Blocking. Publishes a committed body (fsynced, in tmp/) under key: the
  // body is renamed into objects/ (or dropped for an identical one already
  // there) and its directory synced before install() writes the record, so
  // no durable record can name a body that is not durably complete.
  error_code publish(const std::string& key, EntryMeta meta, const std::string& body_hex, BlockList blocks,
                     const std::string& body_tmp);

  // Blocking. Writes key's record naming body_hex (whose blocks hash to
  // blocks) and points the index at it; pinned = a commit's freshly placed
  // body (the pin is released here).
  error_code install(const std::string& key, EntryMeta meta, const std::string& body_hex, BlockList blocks,
                     bool pinned);

  // The entry at name if it is key's: another key there is a collision.
  EntryIt find_locked(const std::string& name, std::string_view key);

  // Points name at a record already in meta/ whose body has been given one
  // more reference for it, replacing any older entry; then makes room.
  void set_entry_locked(const std::string& name, Entry entry);

  EntryIt erase_entry_locked(EntryIt it, bool unlink_record);

  // Evicts the least recently used entry: the victim order for max_size and
  // for min_free_space alike.
  void evict_oldest_locked();

  // Evicts, oldest first, until at least bytes are freed or max_victims
  // entries are gone; none when even an empty cache would not free that
  // much. Returns how many went. Takes the mutex.
  std::uint64_t evict_for_space(std::uint64_t bytes, std::uint64_t max_victims);

  // Every record naming a body that proved bad shares its fault.
  void drop_body_locked(const std::string& body_hex);

  // Takes in what the start-up scan found; records come oldest first, so
  // record mtime is the LRU order (hits bump it lazily: see DiskStore::load).
  void adopt(Scan& scan);

  Stats stats() const;

  // Drops a reference (or a commit's pin); the last one unlinks the body.
  void release_object_locked(const std::string& body_hex, bool pin);
};

// Blocking. Removes every entry whose keep_for has passed (a body goes with
// its last record, through the index's reference counts) and every file in
// tmp/ last written before tmp_cutoff. Takes the index mutex in short
// batches, so event-loop threads looking entries up are never held for
// long; an entry replaced by a fresh commit meanwhile is left alone.
SweepReport sweep(Index& index, SysTime now, std::filesystem::file_time_type tmp_cutoff);

// Blocking. One step of a purge (storage.hpp, Storage::purge): up to
// purge_slice entries from `cursor` on (record names, or for a tag purge
// the tag's names) are looked at and the matched ones removed or marked
// stale, the index mutex held in short batches. Adds to count; false once
// the walk is done, else cursor is where the next slice starts.
Result<bool> purge_step(Index& index, const PurgeRequest& request, std::string& cursor, std::uint64_t& count);

}  // namespace relay::storage::disk
