// relay's configuration: one TOML file, every key overridable from the
// environment as RELAY_<SECTION>_<KEY> (nested tables joined by '_').
// Loading validates everything up front; a bad value or an unknown key is a
// ConfigError naming the key and, for file values, the line.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace relay::config {

using Duration = std::chrono::milliseconds;

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";     // host:port, [v6]:port
  int threads = 1;                           // event-loop threads; 0 = one per core
  std::uint64_t max_header_size = 16 * 1024;  // bytes of request head -> 431
  std::uint64_t max_url_length = 8 * 1024;    // bytes of request-target -> 414
  Duration header_timeout{10'000};           // to receive a full request head
  Duration idle_timeout{60'000};             // keep-alive idle between requests; longest gap in a request body
  // Time a client gets to send a request body, counting only the time relay
  // waits for it; each min_body_rate bytes received add one second
  // (0 = no extension: body_timeout is then a hard total). -> 408
  Duration body_timeout{60'000};
  std::uint64_t min_body_rate = 1024;        // bytes per second
  Duration shutdown_grace{10'000};           // drain time on SIGTERM/SIGINT
  std::uint64_t max_connections = 10'000;    // concurrent client connections
};

struct UpstreamConfig {
  std::string url = "http://127.0.0.1:9000";  // origin (http or https); a path is a prefix for every target
  Duration connect_timeout{5'000};
  Duration first_byte_timeout{30'000};  // request sent -> response head
  Duration idle_timeout{30'000};        // silence while receiving a body
  // Origin connections open at once (in use and idle), for the whole
  // process: each event-loop thread gets an equal share. A request finding
  // none free waits, at most queue_timeout (then 503).
  int max_connections = 64;
  Duration queue_timeout{10'000};
  bool preserve_host = true;            // forward the client's Host header
};

struct CacheKeyConfig {
  bool sort_query = true;
  // Query parameters dropped from the key; '*' matches any run of characters.
  std::vector<std::string> ignore_params = {"utm_*", "fbclid", "gclid"};
  // Request header values appended to the key (names, case-insensitive).
  std::vector<std::string> headers;
};

// One [[cache.rules]] entry. Rules are tried in file order; the first whose
// path glob matches the request path applies (an ordered list, never a map).
struct CacheRule {
  std::string path;                                 // glob on the path; '*' matches any run
  std::optional<Duration> ttl;                      // replaces the origin's freshness
  std::optional<Duration> default_ttl;              // only when the origin gives none
  std::optional<Duration> stale_while_revalidate;   // replaces [cache] stale_while_revalidate
  std::optional<Duration> stale_if_error;           // replaces [cache] stale_if_error
  bool bypass = false;                              // never look up or store
  std::optional<std::vector<std::string>> ignore_params;  // replaces [cache.key] ignore_params
  std::optional<std::vector<std::string>> key_headers;    // replaces [cache.key] headers
  std::optional<std::string> set_cookie;                  // replaces [cache] set_cookie
  std::optional<std::vector<std::string>> strip_request_headers;  // replaces [cache] strip_request_headers
  int line = 0;                                     // where it was defined, for messages
};

// [cache.coalesce]: one origin fetch per key, shared by concurrent requests.
struct CoalesceConfig {
  bool enabled = true;
  Duration follower_timeout{30'000};  // a follower waiting longer for the head goes to the origin itself
  Duration max_fill_age{60'000};      // a fill older than this takes no new followers
  Duration hit_for_miss{10'000};      // an uncacheable key skips coalescing for this long
  // With storage = redis: one fetch per key across every instance sharing it.
  bool distributed = true;
  std::string degraded = "local";     // Redis away: "local" coalescing only, or "fail-open" (none)
  // A fill's body past spool_memory waits for its followers in an unlinked
  // file in spool_dir ("" = the system temporary directory).
  std::string spool_dir;
  std::uint64_t spool_memory = 1024 * 1024;
};

struct CacheConfig {
  // Freshness for responses that carry none; 0 = such responses are not stored.
  Duration default_ttl{0};
  std::uint64_t max_object_size = 64ull * 1024 * 1024;  // larger ones stream through
  // Cap on heuristic freshness (10% of Date - Last-Modified, RFC 9111 §4.2.2).
  Duration heuristic_max{86'400'000};
  // Stale windows applied when the response names none (RFC 5861); never
  // when must-revalidate, proxy-revalidate, s-maxage or no-cache forbid it.
  Duration stale_while_revalidate{0};
  Duration stale_if_error{0};
  // Targeted cache-control fields (RFC 9213), first present and valid one
  // wins over Cache-Control and Expires for relay's own decisions.
  std::vector<std::string> targeted_fields = {"CDN-Cache-Control"};
  // Remove the targeted fields from responses sent to clients. Off by
  // default: RFC 9213 does not ask for removal, and caches further
  // downstream (another CDN tier) act on them too.
  bool strip_targeted_fields = false;
  // The cache name in Cache-Status (RFC 9211).
  std::string status_name = "relay";
  // Responses carrying Set-Cookie: "pass" (never stored, like Varnish and
  // nginx), "strip" (stored without their Set-Cookie) or "store" (stored
  // and replayed, as RFC 9111 permits, but only with explicit freshness).
  std::string set_cookie = "pass";
  // Request fields removed before forwarding, because origins change the
  // response on them while the key does not name them (cache poisoning).
  // A field that is also in the key's headers is kept.
  std::vector<std::string> strip_request_headers = {"X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override",
                                                    "X-Forwarded-Host"};
  CacheKeyConfig key;
  CoalesceConfig coalesce;
  std::vector<CacheRule> rules;  // [[cache.rules]]
};

struct DiskStorageConfig {
  std::string path = "/var/cache/relay";            // created if missing
  std::uint64_t max_size = 1024ull * 1024 * 1024;   // bytes of bodies + metadata on disk
  std::uint64_t min_free_space = 256ull * 1024 * 1024;  // stop storing below this free space
  int io_threads = 2;                               // blocking file I/O runs here
};

struct RedisStorageConfig {
  std::string url = "redis://127.0.0.1:6379/0";     // redis://[:password@]host:port/db
  std::string key_prefix = "relay:";
  Duration connect_timeout{1'000};
  Duration command_timeout{500};
  std::uint64_t chunk_size = 256 * 1024;            // body bytes per Redis value
};

struct StorageConfig {
  std::string backend = "memory";                   // memory | disk | redis
  std::uint64_t max_size = 256ull * 1024 * 1024;    // memory: bytes (headers + body + overhead)
  std::string eviction = "lru";                     // memory: lru | lfu | fifo
  std::string tier = "none";                        // none | memory+disk | memory+redis
  Duration keep_time{3'600'000};                    // kept past freshness + stale windows
  std::string compression = "none";                 // none | zstd (disk, redis, tier lower level)
  int compression_level = 3;                        // zstd level 1..19
  std::uint64_t compression_min_size = 1024;        // smaller bodies are stored as they are
  std::vector<std::string> compression_types = {"text/*", "application/json", "application/javascript",
                                                "application/xml", "image/svg+xml"};
  DiskStorageConfig disk;                           // [storage.disk]
  RedisStorageConfig redis;                         // [storage.redis]
};

// [maintenance]: scheduled cleanup (today the disk store's sweep), one
// instance at a time per scope when a Redis lock guards the rounds.
struct MaintenanceConfig {
  Duration interval{300'000};  // between rounds of each task; 0 = no scheduled cleanup
  // none: every instance runs its own rounds. redis: each round takes a lock
  // in [storage.redis]'s server first; the instances that miss it skip the round.
  std::string lock = "none";
};

struct MetricsConfig {
  bool enabled = true;
  std::string path = "/metrics";
};

struct LogConfig {
  std::string level = "info";         // error | warn | info | debug
  std::string format = "text";        // text | json  (access log line format)
  std::string access_log = "stdout";  // stdout | stderr | off | a file path
};

struct Config {
  ServerConfig server;
  UpstreamConfig upstream;
  CacheConfig cache;
  StorageConfig storage;
  MaintenanceConfig maintenance;
  MetricsConfig metrics;
  LogConfig log;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Environment = std::map<std::string, std::string>;

// The process environment's RELAY_* variables.
Environment relay_environment();

// Parses TOML text (source_name is used in messages), applies env overrides
// and validates. Throws ConfigError.
Config load_from_string(std::string_view toml_text, const std::string& source_name,
                        const Environment& env);
// Reads a file then load_from_string. Throws ConfigError.
Config load_from_file(const std::string& path, const Environment& env);
// Defaults plus env overrides (no file given). Throws ConfigError.
Config load_defaults(const Environment& env);

// Parses "30s", "250ms", "5m", "1h", "2d" or a bare integer of seconds.
Duration parse_duration(std::string_view text);  // throws std::invalid_argument
// Parses "512", "64KiB", "10MB", "1GiB" (K/M/G/T, with or without iB/B).
std::uint64_t parse_size(std::string_view text);  // throws std::invalid_argument

}  // namespace relay::config
