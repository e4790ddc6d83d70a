// The disk backend's periodic sweep (see index.hpp): without it an
// expired entry stays on disk until it is looked up or size pressure evicts
// it. Blocking; DiskStore runs it on its I/O pool.
#include <filesystem>
#include <vector>

#include "index.hpp"

namespace relay::storage::disk {
namespace fs = std::filesystem;

namespace {

// Entries erased per hold of the index mutex: each erase unlinks a record
// (and maybe a body) under the mutex, like every other removal, so a batch
// bounds how long a lookup on an event loop can wait.
constexpr std::size_t batch_size = 64;

std::vector<std::string> expired_names(Index& index, SysTime now) {
  std::vector<std::string> names;
  std::lock_guard lock(index.mutex);
  for (const auto& [name, entry] : index.entries)
    if (expired(entry.meta, now)) names.push_back(name);
  return names;
}

void remove_expired(Index& index, SysTime now, SweepReport& report) {
  auto names = expired_names(index, now);
  for (std::size_t start = 0; start < names.size(); start += batch_size) {
    std::lock_guard lock(index.mutex);
    for (std::size_t i = start; i < std::min(names.size(), start + batch_size); ++i) {
      auto it = index.entries.find(names[i]);
      // Removed, or replaced by a fresh commit, since the names were taken.
      if (it == index.entries.end() || !expired(it->second.meta, now)) continue;
      auto size_before = index.size;
      auto bodies_before = index.objects.size();
      index.erase_entry_locked(it, true);
      ++index.expirations;
      ++report.records_removed;
      report.bytes_freed += size_before - index.size;
      report.bodies_removed += bodies_before - index.objects.size();
    }
  }
}

// A writer's temporary file is written to at least once per chunk while its
// body streams in, so only one untouched for a long time is abandoned (a
// crashed commit's leftovers are removed at start-up; these come from
// failures after it, e.g. an unlink that did not happen). Should a stalled
// writer's file go after all, its commit fails and nothing is published.
void remove_old_tmp(const fs::path& tmp, fs::file_time_type cutoff, SweepReport& report) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tmp, ec)) {
    std::error_code fe;
    if (!e.is_regular_file(fe) || e.last_write_time(fe) >= cutoff || fe) continue;
    auto size = e.file_size(fe);
    if (fe) size = 0;
    if (!fs::remove(e.path(), fe) || fe) continue;
    ++report.tmp_removed;
    report.bytes_freed += size;
  }
  if (ec) log::warn("disk storage: listing ", tmp.string(), ": ", ec.message());
}

}  // namespace

SweepReport sweep(Index& index, SysTime now, fs::file_time_type tmp_cutoff) {
  SweepReport report;
  remove_expired(index, now, report);
  remove_old_tmp(index.layout.tmp(), tmp_cutoff, report);
  return report;
}

}  // namespace relay::storage::disk
