// Private to disk/: the start-up scan that brings the cache directory back
// to a consistent state before the store serves (recover.cpp). Blocking.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "files.hpp"
#include "record.hpp"

namespace relay::storage::disk {

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

}  // namespace relay::storage::disk
