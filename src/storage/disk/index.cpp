// The disk index's operations: publishing a committed body and installing
// its record, replacing and evicting entries, reference counts on shared
// bodies. Renames and unlinks that change what the index describes happen
// under its mutex (see index.hpp); writes and fsyncs happen outside it.
#include "index.hpp"

#include "record.hpp"

namespace relay::storage::disk {

error_code Index::publish(const std::string& key, EntryMeta meta, const std::string& body_hex, BlockList blocks,
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

error_code Index::install(const std::string& key, EntryMeta meta, const std::string& body_hex, BlockList blocks,
                          bool pinned) {
  auto name = sha256_hex(key);
  auto bytes = encode_record(key, meta, body_hex, *blocks);
  bool too_large = meta.body_size + bytes.size() > max_size;
  auto tmp = too_large ? Result<std::string>(make_error_code(Errc::object_too_large))
                       : write_durable_tmp(layout.tmp(), "m.", bytes);
  error_code ec = tmp ? error_code{} : tmp.error();
  // Only the order of evictions after a restart depends on it: best-effort.
  if (tmp) (void)set_mtime(*tmp, clock());
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

Index::EntryIt Index::find_locked(const std::string& name, std::string_view key) {
  auto it = entries.find(name);
  return it != entries.end() && it->second.key == key ? it : entries.end();
}

void Index::set_entry_locked(const std::string& name, Entry entry) {
  if (auto old = entries.find(name); old != entries.end()) erase_entry_locked(old, false);
  lru.push_front(name);
  entry.lru = lru.begin();
  for (const auto& tag : entry.meta.internal.tags) tags[tag].insert(name);
  size += entry.record_bytes;
  entries.emplace(name, std::move(entry));
  // The newest entry stays even if alone it overflows: commits refuse
  // bodies that cannot fit, so that only happens on a shrunk max_size.
  while (size > max_size && lru.size() > 1) evict_oldest_locked();
}

void Index::evict_oldest_locked() {
  erase_entry_locked(entries.find(lru.back()), true);
  ++evictions;
}

std::uint64_t Index::evict_for_space(std::uint64_t bytes, std::uint64_t max_victims) {
  std::lock_guard lock(mutex);
  if (bytes > size) return 0;
  const auto target = size - bytes;
  std::uint64_t victims = 0;
  while (size > target && victims < max_victims && !lru.empty()) {
    evict_oldest_locked();
    ++victims;
  }
  return victims;
}

Index::EntryIt Index::erase_entry_locked(EntryIt it, bool unlink_record) {
  if (unlink_record) remove_file(layout.record_path(it->first));
  size -= it->second.record_bytes;
  lru.erase(it->second.lru);
  for (const auto& tag : it->second.meta.internal.tags) {
    auto tagged = tags.find(tag);
    if (tagged == tags.end()) continue;
    tagged->second.erase(it->first);
    if (tagged->second.empty()) tags.erase(tagged);
  }
  auto body_hex = std::move(it->second.body_hex);
  auto next = entries.erase(it);
  release_object_locked(body_hex, false);
  return next;
}

void Index::drop_body_locked(const std::string& body_hex) {
  for (auto e = entries.begin(); e != entries.end();) {
    e = e->second.body_hex == body_hex ? erase_entry_locked(e, true) : std::next(e);
  }
}

void Index::adopt(Scan& scan) {
  std::lock_guard lock(mutex);
  for (auto& [hex, bytes] : scan.objects) {
    objects.emplace(hex, Object{bytes, 0, 0, std::nullopt, nullptr});
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

Stats Index::stats() const {
  std::lock_guard lock(mutex);
  return Stats{entries.size(), size, evictions, expirations, integrity_failures};
}

void Index::release_object_locked(const std::string& body_hex, bool pin) {
  auto it = objects.find(body_hex);
  if (it == objects.end()) return;
  auto& use = pin ? it->second.pins : it->second.refs;
  if (use > 0) --use;
  if (it->second.refs != 0 || it->second.pins != 0) return;
  remove_file(layout.object_path(body_hex));
  size -= it->second.size;
  objects.erase(it);
}

}  // namespace relay::storage::disk
