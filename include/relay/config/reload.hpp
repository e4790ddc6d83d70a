// What a running relay can take from a changed configuration (hot reload,
// SIGHUP or POST /reload) and what only a restart can change. The
// restart-only keys are the ones whose value was used once to build
// something that lives as long as the process: the storage stack and its
// maintenance, the event-loop threads and the client listening socket they
// share, the coalescer every thread shares, and the admin/metrics
// listeners with their routes and token.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "relay/config/config.hpp"

namespace relay::config {

// The restart-only keys: a dotted key, or a section prefix ending in '.'
// that covers every key under it. Their order is the order README lists them.
std::span<const std::string_view> restart_only_keys();

// The first restart-only key (schema order) whose value differs between
// the running configuration and the candidate; nullopt when a reload may
// apply the candidate.
std::optional<std::string> restart_needed(const Config& running, const Config& candidate);

// The configuration in force, swapped whole by a reload. Readers take one
// snapshot and keep it as long as they need it (a request, a connection),
// so a reload never changes what they see half-way. Thread-safe.
class Live {
 public:
  explicit Live(std::shared_ptr<const Config> initial) : current_(std::move(initial)) {}

  std::shared_ptr<const Config> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // 1 for the configuration relay started with, +1 per applied reload.
  std::uint64_t generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
  }
  // Makes `next` current; returns its generation.
  std::uint64_t set(std::shared_ptr<const Config> next) {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
    return ++generation_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> current_;
  std::uint64_t generation_ = 1;
};

}  // namespace relay::config
