// relay's configuration: one TOML file, every key overridable from the
// environment as RELAY_<SECTION>_<KEY> (nested tables joined by '_').
// Loading validates everything up front; a bad value or an unknown key is a
// ConfigError naming the key and, for file values, the line. Addresses and
// URLs arrive parsed (ListenAddress, UpstreamUrl, RedisUrl) and choices as
// enums, so no use site parses or compares config text again.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/cache_rule.hpp"
#include "relay/config/front_door.hpp"
#include "relay/config/rate_limit_config.hpp"
#include "relay/config/upstream_tls.hpp"
#include "relay/config/gateway.hpp"

namespace relay::config {

using Duration = std::chrono::milliseconds;

// The choices, each written in the file as name_of() gives it.
enum class StorageBackend { Memory, Disk, Redis };      // memory | disk | redis
enum class Eviction { Lru, Lfu, Fifo };                 // lru | lfu | fifo
enum class Tier { None, MemoryDisk, MemoryRedis };      // none | memory+disk | memory+redis
enum class Compression { None, Zstd };                  // none | zstd
enum class DegradedMode { Local, FailOpen };            // local | fail-open
enum class MaintenanceLock { None, Redis };             // none | redis
enum class LogLevel { Error, Warn, Info, Debug };       // error | warn | info | debug
enum class LogFormat { Text, Json };                    // text | json
enum class DiskVerify { FirstRead, EveryRead };         // first_read | every_read

std::string_view name_of(StorageBackend v) noexcept;
std::string_view name_of(Eviction v) noexcept;
std::string_view name_of(Tier v) noexcept;
std::string_view name_of(Compression v) noexcept;
std::string_view name_of(DegradedMode v) noexcept;
std::string_view name_of(MaintenanceLock v) noexcept;
std::string_view name_of(LogLevel v) noexcept;
std::string_view name_of(LogFormat v) noexcept;
std::string_view name_of(DiskVerify v) noexcept;

// The backend a tier puts behind its memory level (Tier::None: none, the
// backend itself is used).
StorageBackend lower_level(Tier tier) noexcept;

// Each typed value keeps its text as written (messages, --print-config) and
// its parts; parse() throws std::invalid_argument with the loader's
// "expected ..., got ..." message.

// server.listen: host:port or [v6]:port, port 1..65535. address is an IP
// literal for asio::ip::make_address ("" and "*" are 0.0.0.0, "localhost"
// 127.0.0.1; an IPv6 one without its brackets).
struct ListenAddress {
  std::string text;
  std::string address;
  std::uint16_t port = 0;

  static ListenAddress parse(std::string_view text);
  bool operator==(const ListenAddress&) const = default;
};

// upstream.url: http:// or https://, read with Boost.URL.
struct UpstreamUrl {
  std::string text;
  std::string scheme;     // "http" or "https"
  std::string authority;  // as written, userinfo and port included
  std::string host;       // without userinfo, port or IPv6 brackets
  std::uint16_t port = 0;  // as written, else the scheme's (80, 443)
  std::string base;       // scheme://authority, where every request goes
  std::string prefix;     // the path before every target, no trailing '/'; "" for none

  static UpstreamUrl parse(std::string_view text);
  bool operator==(const UpstreamUrl&) const = default;
};

// storage.redis.url: redis://[:password@]host[:port][/db]. The password
// may hold '@' and '/' (the last '@' ends it), which a URI may not, so this
// one is read by hand.
struct RedisUrl {
  std::string text;
  std::string host;      // without IPv6 brackets
  int port = 6379;
  std::string password;  // empty: no AUTH
  int db = 0;            // 0: no SELECT

  static RedisUrl parse(std::string_view text);
  bool operator==(const RedisUrl&) const = default;
};

// log.access_log: stdout | stderr | off | a file path.
struct AccessLogTarget {
  enum class To { Stdout, Stderr, Off, File };
  To to = To::Stdout;
  std::string path;  // To::File only

  static AccessLogTarget parse(std::string_view text);
  std::string text() const;
  bool operator==(const AccessLogTarget&) const = default;
};

struct ServerConfig {
  ListenAddress listen = ListenAddress::parse("127.0.0.1:8080");
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
  // Peers (CIDR or addresses) whose X-Forwarded-For / X-Forwarded-Proto
  // relay keeps and extends: the first address from the right that is not
  // one of them is the client, for rate limits and logs (nginx real_ip,
  // set_real_ip_from). From any other peer both fields are overwritten.
  std::vector<std::string> trusted_proxies;
  // Also send RFC 7239 Forwarded (for=, proto=, host=), extending a trusted peer's.
  bool forwarded = false;
  // Largest request body accepted (0 = no limit): a larger Content-Length
  // gets 413 before any 100 Continue, a chunked body is cut at it.
  std::uint64_t max_body_size = 0;
  RateLimitConfig rate_limit;                // [server.rate_limit]: every request, before any route's own
  // Upgrade tokens (RFC 9110 §7.8) relay tunnels to the origin, compared
  // case-insensitively; a request naming another keeps today's treatment
  // (Upgrade stripped as hop-by-hop, served as a plain request).
  std::vector<std::string> upgrades = {"websocket"};
  // A tunnel (after a 101) with no byte moving either way this long is closed.
  Duration tunnel_idle_timeout{3'600'000};
  // HTTP/2 with prior knowledge (RFC 9113 §3.3) on the cleartext listener:
  // a connection opening with the HTTP/2 preface speaks h2c. No Upgrade: h2c.
  bool h2c = false;
  ServerTls tls;        // [server.tls]
  Http2Config http2;    // [server.http2]
};

struct UpstreamConfig {
  UpstreamUrl url = UpstreamUrl::parse("http://127.0.0.1:9000");  // a path is a prefix for every target
  Duration connect_timeout{5'000};
  Duration first_byte_timeout{30'000};  // request sent -> response head
  Duration idle_timeout{30'000};        // silence while receiving a body
  // Origin connections open at once (in use and idle), for the whole
  // process: each event-loop thread gets an equal share. A request finding
  // none free waits, at most queue_timeout (then 503).
  int max_connections = 64;
  Duration queue_timeout{10'000};
  bool preserve_host = true;            // forward the client's Host header
  UpstreamTls tls;                      // [upstream.tls]: https:// origins only
};

struct CacheKeyConfig {
  bool sort_query = true;
  // Query parameters dropped from the key; '*' matches any run of characters.
  std::vector<std::string> ignore_params = {"utm_*", "fbclid", "gclid"};
  // Request header values appended to the key (names, case-insensitive).
  std::vector<std::string> headers;
  // true: the key starts with the scheme the client used (https on the TLS
  // listener), as nginx's default proxy_cache_key, for an origin answering
  // differently per scheme (a redirect to https). false (Varnish's
  // default): both listeners share one entry per URL, and a purge of
  // http://... or https://... reaches it either way.
  bool scheme = false;
};

// [cache.coalesce]: one origin fetch per key, shared by concurrent requests.
struct CoalesceConfig {
  bool enabled = true;
  Duration follower_timeout{30'000};  // a follower waiting longer for the head goes to the origin itself
  Duration max_fill_age{60'000};      // a fill older than this takes no new followers
  Duration hit_for_miss{10'000};      // an uncacheable key skips coalescing for this long
  // The fleet lock's lifetime: its holder renews it every third of it, so a
  // holder that dies frees the key this long after its last renewal.
  Duration lock_ttl{3'000};
  // With storage = redis: one fetch per key across every instance sharing it.
  bool distributed = true;
  DegradedMode degraded = DegradedMode::Local;  // Redis away: local coalescing only, or fail-open (none)
  // A fill's body past spool_memory waits for its followers in an unlinked
  // file in spool_dir ("" = the system temporary directory).
  std::string spool_dir;
  std::uint64_t spool_memory = 1024 * 1024;
};

// [cache.refresh_ahead]: a stored response that clients keep asking for is
// revalidated in the background shortly before it expires, so it never
// goes stale or misses while it is popular. One refresh per key (through
// the coalescer), at most max_concurrent at once in the process.
struct RefreshAheadConfig {
  bool enabled = false;
  int min_hits = 10;   // hits during the response's lifetime before it is refreshed ahead
  double at = 0.8;     // the fraction of its lifetime after which such a hit starts the refresh
  int max_concurrent = 16;
  // Responses tracked at once (their hit counts); past it, new ones are not counted.
  int max_tracked = 100'000;
};

struct CacheConfig {
  // Freshness for responses that carry none; 0 = such responses are not stored.
  Duration default_ttl{0};
  // Larger ones stream through. Unset: by backend (default_max_object_size).
  std::uint64_t max_object_size = 64ull * 1024 * 1024;
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
  SetCookie set_cookie = SetCookie::Pass;
  // May a client's Cache-Control: no-cache / max-age=0 / min-fresh (or
  // Pragma: no-cache) make relay go to the origin? true as RFC 9111 has it;
  // false as Varnish and most CDNs do, so one client cannot make relay
  // hammer the origin. [[routes]] may override it.
  bool honour_client_no_cache = true;
  // The lifetime of a 404 or 410 under a rule's ttl (unless the rule's
  // status lists it) and where a default_ttl would keep one: a path not
  // there yet must not stay missing for a rule's 30 days.
  Duration negative_ttl = std::chrono::minutes(1);
  // Request fields removed before forwarding, because origins change the
  // response on them while the key does not name them (cache poisoning).
  // A field that is also in the key's headers is kept.
  std::vector<std::string> strip_request_headers = {"X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override",
                                                    "X-Forwarded-Host"};
  CacheKeyConfig key;
  CoalesceConfig coalesce;
  RefreshAheadConfig refresh_ahead;
  std::vector<CacheRule> rules;  // [[cache.rules]]
};

struct DiskStorageConfig {
  std::string path = "/var/cache/relay";            // created if missing
  std::uint64_t max_size = 1024ull * 1024 * 1024;   // bytes of bodies + metadata on disk
  std::uint64_t min_free_space = 256ull * 1024 * 1024;  // stop storing below this free space
  int io_threads = 2;                               // blocking file I/O runs here
  DiskVerify verify = DiskVerify::FirstRead;        // when a hit hashes the blocks it sends
};

struct RedisStorageConfig {
  RedisUrl url = RedisUrl::parse("redis://127.0.0.1:6379/0");
  std::string key_prefix = "relay:";
  Duration connect_timeout{1'000};
  Duration command_timeout{500};
  std::uint64_t chunk_size = 256 * 1024;            // body bytes per Redis value
  // Redis Sentinel: the master of `master_name` as these sentinels
  // ("host:port") know it, followed through failovers; url then gives only
  // the password and db.
  std::vector<std::string> sentinels;
  std::string master_name;
};

struct StorageConfig {
  StorageBackend backend = StorageBackend::Memory;
  std::uint64_t max_size = 256ull * 1024 * 1024;    // memory: bytes (headers + body + overhead)
  Eviction eviction = Eviction::Lru;                // memory only
  Tier tier = Tier::None;
  Duration keep_time{3'600'000};                    // kept past freshness + stale windows
  Compression compression = Compression::None;     // disk, redis, tier lower level
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
  MaintenanceLock lock = MaintenanceLock::None;
};

// admin.listen: "" (off) or an address as server.listen takes it.
struct AdminListen {
  std::string text;
  std::optional<ListenAddress> address;  // nullopt: no admin listener

  static AdminListen parse(std::string_view text);
  bool operator==(const AdminListen&) const = default;
};

// metrics.listen: "" = on the admin listener, "public" = on the client
// listener (server.listen), else host:port of a listener of its own.
struct MetricsListen {
  enum class On { Admin, Public, Own };
  On on = On::Admin;
  ListenAddress address;  // On::Own only

  static MetricsListen parse(std::string_view text);
  std::string text() const;
  bool operator==(const MetricsListen&) const = default;
};

// [admin]: relay's own HTTP API (health, metrics), apart from client traffic.
struct AdminConfig {
  AdminListen listen = AdminListen::parse("127.0.0.1:9091");
  // A bearer token every admin request must carry; at most one of the two.
  std::string token;
  std::string token_file;  // a file holding the token (surrounding whitespace ignored)
  // Clients allowed to connect (CIDR or single addresses); others get 403.
  std::vector<std::string> allow = {"127.0.0.0/8", "::1/128"};
};

// The admin token in force: admin.token, or the contents of admin.token_file
// ("" when neither is set). Throws std::invalid_argument when the file
// cannot be read or holds no usable token.
std::string admin_token(const AdminConfig& admin);

// The event-loop threads [server] threads asks for: the number given, or
// one per core for 0.
std::size_t event_loop_threads(const ServerConfig& server);

// [cache] max_object_size when the operator sets none: a quarter of a
// memory store (64 MiB of the default 256 MiB), an eighth of a disk store
// (128 MiB of the default 1 GiB), 256 MiB with Redis (whose size relay
// does not know). With a tier, the lower level's.
std::uint64_t default_max_object_size(const StorageConfig& storage);

// [purge]: invalidation. Tags come from response headers at store time;
// the PURGE method on the public listener is Varnish's habit, off unless
// `allow` names who may use it.
struct PurgeConfig {
  // Clients allowed to send PURGE to server.listen (CIDR or addresses);
  // empty = the method is not special (it goes to the origin like any other).
  std::vector<std::string> allow;
  // Response fields whose values tag a stored entry: Surrogate-Key is split
  // on spaces (Fastly), every other field on commas (Cloudflare's Cache-Tag).
  std::vector<std::string> tag_headers = {"Surrogate-Key", "Cache-Tag"};
  // Pass those fields on to clients (by default they are for relay alone).
  bool forward_tag_headers = false;
};

struct MetricsConfig {
  bool enabled = true;
  std::string path = "/metrics";
  MetricsListen listen;
};

struct LogConfig {
  LogLevel level = LogLevel::Info;
  LogFormat format = LogFormat::Text;  // access log line format
  AccessLogTarget access_log;
};

// One [[warm]] source: URLs fetched through the cache at start and every
// `every`, so they are stored before clients ask. Either a file of URLs or
// a sitemap (RFC-less but universal: sitemaps.org 0.9, sitemap indexes
// followed one level).
struct WarmSource {
  std::string name;     // metric label and log text; "warm[N]" when unset
  std::string urls;     // a file: one URL or /path per line, '#' comments
  std::string sitemap;  // an http(s) URL of a sitemap or sitemap index
  // The Host of the lines that are paths, as clients send it (the cache
  // key holds it); "" = such lines are skipped.
  std::string host;
  Duration every{3'600'000};  // 0: at start only
  double rate = 10;           // requests per second at most
  int concurrency = 4;        // requests in flight at most
  int max_urls = 50'000;      // a run stops collecting past this many URLs
  // Request header sets, one request per URL and set (a Vary variant each);
  // empty: one request with none.
  std::vector<std::vector<std::pair<std::string, std::string>>> variants;
  int line = 0;

  bool operator==(const WarmSource&) const = default;
};

struct Config {
  ServerConfig server;
  UpstreamConfig upstream;
  // [[origins]] then the implicit "default" pool from [upstream] (first);
  // [[routes]] then the catch-all route (last). Never empty after loading.
  std::vector<OriginPool> origins;
  std::vector<Route> routes;
  CacheConfig cache;
  StorageConfig storage;
  MaintenanceConfig maintenance;
  AdminConfig admin;
  PurgeConfig purge;
  MetricsConfig metrics;
  LogConfig log;
  std::vector<WarmSource> warm;  // [[warm]]
};

// Completes [[origins]] and [[routes]] as the loader does: the "default"
// pool from [upstream] first (when there are no pools, or upstream.url was
// set explicitly) and the catch-all route last. For a Config built in code.
void complete_gateway(Config& cfg, bool upstream_named = false);

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
