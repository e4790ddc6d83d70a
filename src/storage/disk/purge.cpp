// The disk backend's purge walk (see index.hpp, purge_step): blocking,
// run slice by slice on the I/O pool by DiskStore::purge. A hard purge
// removes records like the sweep does, a bounded batch per hold of the
// index mutex; a soft purge rewrites each matched record with its stale
// mark through Index::install, which only lands on the entry it was made
// for (a commit meanwhile wins).
#include <vector>

#include "../purge_walk.hpp"
#include "index.hpp"

namespace relay::storage::disk {

namespace {

// Removals per hold of the index mutex: each unlinks a record (and maybe a
// body) under it, as in sweep.cpp.
constexpr std::size_t removal_batch = 64;

// Up to purge_slice record names from cursor on that the walk looks at,
// plus the cursor of the next slice; empty cursor = none.
std::vector<std::string> take_slice(Index& index, const PurgeRequest& request, std::string& cursor, bool& more) {
  std::vector<std::string> names;
  std::lock_guard lock(index.mutex);
  auto collect = [&](const auto& ordered, auto name_of) {
    for (auto it = ordered.lower_bound(cursor); it != ordered.end(); ++it) {
      if (names.size() == purge_slice) {
        cursor = name_of(*it);
        more = true;
        return;
      }
      names.push_back(name_of(*it));
    }
  };
  more = false;
  if (request.selector.kind != PurgeSelector::Kind::tag) {
    collect(index.entries, [](const auto& e) { return e.first; });
  } else if (auto tagged = index.tags.find(request.selector.value); tagged != index.tags.end()) {
    collect(tagged->second, [](const std::string& name) { return name; });
  }
  return names;
}

void remove_matched(Index& index, const PurgeRequest& request, const std::vector<std::string>& names,
                    std::uint64_t& count) {
  for (std::size_t start = 0; start < names.size(); start += removal_batch) {
    std::lock_guard lock(index.mutex);
    for (std::size_t i = start; i < std::min(names.size(), start + removal_batch); ++i) {
      auto it = index.entries.find(names[i]);
      if (it == index.entries.end() || !purge_matches(request, it->second.key, it->second.meta)) continue;
      count += purge_count(it->second.meta);
      index.erase_entry_locked(it, true);
    }
  }
}

error_code mark_matched(Index& index, const PurgeRequest& request, const std::vector<std::string>& names,
                        std::uint64_t& count) {
  for (const auto& name : names) {
    std::string key, body_hex;
    EntryMeta meta;
    BlockList blocks;
    {
      std::lock_guard lock(index.mutex);
      auto it = index.entries.find(name);
      if (it == index.entries.end() || !purge_matches(request, it->second.key, it->second.meta)) continue;
      count += purge_count(it->second.meta);
      meta = it->second.meta;
      if (!mark_stale(meta, request)) continue;
      key = it->second.key;
      body_hex = it->second.body_hex;
      blocks = it->second.blocks;
    }
    if (auto ec = index.install(key, std::move(meta), body_hex, std::move(blocks), false)) return ec;
  }
  return {};
}

}  // namespace

Result<bool> purge_step(Index& index, const PurgeRequest& request, std::string& cursor, std::uint64_t& count) {
  bool more = false;
  auto names = take_slice(index, request, cursor, more);
  if (request.mode == PurgeMode::hard) {
    remove_matched(index, request, names, count);
  } else if (auto ec = mark_matched(index, request, names, count)) {
    return Result<bool>(boost::system::in_place_error, ec);
  }
  return more;
}

}  // namespace relay::storage::disk
