// The wall clock a backend judges time by: whether an entry's keep_for has
// passed (expired(), storage.hpp) and, on disk, the access times it
// persists in record mtimes. Given at construction so that tests move time
// forward instead of sleeping; relay itself always passes real_clock().
// Redis needs none: its entries expire by the server's own clock (TTLs).
#pragma once

#include <chrono>
#include <functional>

#include "relay/storage/storage.hpp"

namespace relay::storage {

// Returns the current time; called from any thread.
using Clock = std::function<SysTime()>;

inline Clock real_clock() {
  return [] { return std::chrono::system_clock::now(); };
}

}  // namespace relay::storage
