// Strings a thread keeps for their buffers (util/thread_stash.hpp): the
// request path's keys and Vary strings are built in a buffer a dropped one
// gave back, so a hit allocates none of them in the steady state.
#pragma once

#include <string>
#include <vector>

#include "relay/util/thread_stash.hpp"

namespace relay::util {

namespace string_stash {
struct Tag {};
using Stash = ThreadStash<std::string, 16, Tag>;
// Buffers past this are not kept: a thread keeps at most 16 * 4 KiB.
inline constexpr std::size_t kLongestKept = 4096;
}  // namespace string_stash

// An empty string, holding a buffer given back on this thread if there is one.
inline std::string recycled_string() noexcept {
  std::string s;
  if (string_stash::Stash::take(s)) s.clear();
  return s;
}

// Gives s's buffer back for a later recycled_string(); s is left empty.
// Buffers that fit in the string itself, or are very long, are not kept.
inline void recycle_string(std::string& s) noexcept {
  if (s.capacity() > 15 && s.capacity() <= string_stash::kLongestKept) string_stash::Stash::give(s);
}

namespace string_stash {
struct ListTag {};
using Lists = ThreadStash<std::vector<std::string>, 4, ListTag>;
inline constexpr std::size_t kLongestListKept = 64;
}  // namespace string_stash

// An empty list, with the capacity of one given back on this thread if any.
inline std::vector<std::string> recycled_strings() noexcept {
  std::vector<std::string> list;
  string_stash::Lists::take(list);
  return list;
}

// Gives each string's buffer back, then the list's own.
inline void recycle_strings(std::vector<std::string>& list) noexcept {
  for (auto& s : list) recycle_string(s);
  list.clear();
  if (list.capacity() > 0 && list.capacity() <= string_stash::kLongestListKept) string_stash::Lists::give(list);
}

// Gives a list's buffers back when the scope it guards ends.
class RecycleStringsOnExit {
 public:
  explicit RecycleStringsOnExit(std::vector<std::string>& list) noexcept : list_(list) {}
  RecycleStringsOnExit(const RecycleStringsOnExit&) = delete;
  RecycleStringsOnExit& operator=(const RecycleStringsOnExit&) = delete;
  ~RecycleStringsOnExit() { recycle_strings(list_); }

 private:
  std::vector<std::string>& list_;
};

}  // namespace relay::util
