// Validation of a merged Config: ranges, lists and the cross-key rules (tier
// vs backend), once the file and the environment are both applied (and the
// typed keys resolved), so an environment override can fix a file value.
// Values whose Kind or type already checked them are only range-checked here.
#include <string>
#include <string_view>
#include <utility>

#include "checks.hpp"
#include "loader.hpp"
#include "relay/config/rate_limit.hpp"

namespace relay::config::detail {

// Every storage key is checked whichever backend is chosen, so a typo in
// [storage.redis] is caught before the day the backend is switched to it.
// keep_time, max_size, compression_min_size, disk.max_size and
// disk.min_free_space take any value (0 included); key_prefix any string.
void Loader::validate_storage(const StorageConfig& s) const {
  const auto got = [](const std::string& v) { return ", got \"" + v + "\""; };
  if (s.tier != Tier::None) {
    const auto lower = lower_level(s.tier);
    if (s.backend != StorageBackend::Memory && s.backend != lower) {
      const auto it = origin.find("storage.backend");
      const std::string tier(name_of(s.tier)), lower_name(name_of(lower));
      fail("storage.tier", "tier = \"" + tier + "\" implies the " + lower_name + " backend (memory in front of " +
                               lower_name + "), so storage.backend must be " + "\"memory\" (its default) or \"" +
                               lower_name + "\", got \"" + std::string(name_of(s.backend)) + "\"" +
                               (it == origin.end() ? "" : " (" + describe(it->second) + ")"));
    }
  }
  if (s.compression_level < 1 || s.compression_level > 19)
    fail("storage.compression_level", "must be 1..19, got " + std::to_string(s.compression_level));
  for (std::size_t i = 0; i < s.compression_types.size(); ++i)
    if (!is_media_range(s.compression_types[i]))
      fail("storage.compression_types", "expected media types like \"text/html\" or \"text/*\"" +
                                            got(s.compression_types[i]) + " at index " + std::to_string(i));
  if (s.disk.path.empty()) fail("storage.disk.path", "must not be empty");
  if (s.disk.io_threads < 1 || s.disk.io_threads > 64)
    fail("storage.disk.io_threads", "must be 1..64, got " + std::to_string(s.disk.io_threads));
  if (s.redis.chunk_size < 4096)
    fail("storage.redis.chunk_size", "must be at least 4KiB, got " + std::to_string(s.redis.chunk_size));
  if (!s.redis.sentinels.empty() && s.redis.master_name.empty())
    fail("storage.redis.master_name", "is required with storage.redis.sentinels (the name sentinels monitor)");
  if (s.redis.sentinels.empty() && !s.redis.master_name.empty())
    fail("storage.redis.sentinels", "is required with storage.redis.master_name (\"host:port\" of each sentinel)");
  for (const auto& sentinel : s.redis.sentinels) {
    const auto colon = sentinel.rfind(':');
    const auto port = colon == std::string::npos ? std::string() : sentinel.substr(colon + 1);
    const bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (colon == 0 || !digits || std::stoul(port) == 0 || std::stoul(port) > 65535)
      fail("storage.redis.sentinels", "expected \"host:port\" with port 1..65535, got \"" + sentinel + "\"");
  }
}

void Loader::validate() const {
  const auto& c = cfg;
  if (c.server.threads < 0) fail("server.threads", "must be >= 0 (0 = one per core)");
  if (c.upstream.max_connections < 1) fail("upstream.max_connections", "must be >= 1");
  // default_ttl, heuristic_max, the stale windows and maintenance.interval
  // are absent on purpose: 0 turns each off.
  const std::pair<std::string_view, Duration> timeouts[] = {
      {"server.header_timeout", c.server.header_timeout},
      {"server.idle_timeout", c.server.idle_timeout},
      {"server.body_timeout", c.server.body_timeout},
      {"server.shutdown_grace", c.server.shutdown_grace},
      {"server.tunnel_idle_timeout", c.server.tunnel_idle_timeout},
      {"upstream.connect_timeout", c.upstream.connect_timeout},
      {"upstream.first_byte_timeout", c.upstream.first_byte_timeout},
      {"upstream.idle_timeout", c.upstream.idle_timeout},
      {"upstream.queue_timeout", c.upstream.queue_timeout},
      {"storage.redis.connect_timeout", c.storage.redis.connect_timeout},
      {"storage.redis.command_timeout", c.storage.redis.command_timeout},
  };
  for (const auto& [path, d] : timeouts)
    if (d.count() <= 0) fail(path, "must be greater than 0");
  // Renewed every third: shorter would cost more Redis round trips than it saves.
  if (c.cache.coalesce.lock_ttl.count() < 300)
    fail("cache.coalesce.lock_ttl", "must be at least 300ms, got " + std::to_string(c.cache.coalesce.lock_ttl.count()) + "ms");
  for (std::size_t i = 0; i < c.server.upgrades.size(); ++i) {
    if (is_token(c.server.upgrades[i])) continue;
    std::string why("expected protocol names such as \"websocket\", got \"");
    why.append(c.server.upgrades[i]).append("\" at index ").append(std::to_string(i));
    fail("server.upgrades", why);
  }
  // status_name is written into Cache-Status; targeted_fields are field names.
  if (!is_token(c.cache.status_name))
    fail("cache.status_name", "expected a non-empty token (letters, digits, !#$%&'*+-.^_`|~), got \"" +
                                  c.cache.status_name + "\"");
  for (std::string_view path : {"cache.targeted_fields", "cache.strip_request_headers"}) {
    try {
      check_field_names(path == "cache.targeted_fields" ? c.cache.targeted_fields : c.cache.strip_request_headers,
                        "");
    } catch (const ConfigError& e) {
      fail(path, e.what());
    }
  }
  if (auto problem = validate_upstream_tls(c.upstream.tls)) fail("upstream.tls." + problem->key, problem->message);
  if (auto problem = rate_limit_problem(c.server.rate_limit))
    fail("server.rate_limit." + problem->first, problem->second);
  const auto& ahead = c.cache.refresh_ahead;
  if (ahead.min_hits < 1) fail("cache.refresh_ahead.min_hits", "must be >= 1, got " + std::to_string(ahead.min_hits));
  if (!(ahead.at > 0 && ahead.at < 1))
    fail("cache.refresh_ahead.at", "must be a fraction of the lifetime between 0 and 1 (exclusive), got " +
                                       std::to_string(ahead.at));
  if (ahead.max_concurrent < 1)
    fail("cache.refresh_ahead.max_concurrent", "must be >= 1, got " + std::to_string(ahead.max_concurrent));
  if (ahead.max_tracked < 1)
    fail("cache.refresh_ahead.max_tracked", "must be >= 1, got " + std::to_string(ahead.max_tracked));
  validate_storage(c.storage);
  validate_listeners();
  validate_front_door();
  if (c.metrics.path.empty() || c.metrics.path.front() != '/')
    fail("metrics.path", "must start with '/', got \"" + c.metrics.path + "\"");
  // A round's lock lives a little less than the interval: it needs room.
  if (c.maintenance.interval.count() != 0 && c.maintenance.interval < Duration(100))
    fail("maintenance.interval", "must be 0 (off) or at least 100ms, got " +
                                     std::to_string(c.maintenance.interval.count()) + "ms");
}

}  // namespace relay::config::detail
