// The restart-only keys (reload.hpp), compared through the schema rows so
// that a key added under a listed section is covered with no change here.
#include "relay/config/reload.hpp"

#include <array>

#include "relay/config/schema.hpp"

namespace relay::config {

namespace {

constexpr std::array<std::string_view, 9> kRestartOnly = {
    "server.listen",      // the one listening socket every thread accepts on
    "server.threads",     // the event loops, each with its own origin pool
    "server.tls.listen",  // the TLS listening socket, like server.listen
    "server.h2c",         // decided per listener when it starts accepting
    "storage.",           // the storage stack: backend, sizes, paths, Redis
    "maintenance.",       // the scheduler and its lock, built on the storage stack
    "cache.coalesce.",    // the coalescer, shared by every thread
    "admin.",             // the admin listener, its routes, allowlist and token
    "metrics.",           // where metrics are served: routes of the listeners
};

bool covers(std::string_view entry, std::string_view key) {
  return entry.ends_with('.') ? key.starts_with(entry) : key == entry;
}

}  // namespace

std::span<const std::string_view> restart_only_keys() { return kRestartOnly; }

std::optional<std::string> restart_needed(const Config& running, const Config& candidate) {
  // The default pool is made from upstream.url: name the key the operator wrote.
  if (!same_topology(running.origins, candidate.origins))
    return running.upstream.url != candidate.upstream.url ? "upstream.url" : "origins";
  const auto before = key_values(running);
  const auto after = key_values(candidate);
  for (std::size_t i = 0; i < before.size() && i < after.size(); ++i) {
    const auto& key = before[i].path;
    bool fixed = false;
    for (auto entry : restart_only_keys()) fixed = fixed || covers(entry, key);
    if (fixed && before[i].value != after[i].value) return std::string(key);
  }
  return std::nullopt;
}

}  // namespace relay::config
