// Prometheus metrics: one registry (prometheus-cpp core), served as text by
// relay's own server at [metrics] path. Counters used on the request path
// are resolved once at start-up, so recording is a relaxed atomic add.
// Storage levels are sampled when /metrics is scraped, not on every write.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "relay/cache/status.hpp"
#include "relay/storage/storage.hpp"
#include "relay/util/result.hpp"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace relay::metrics {

class ShardedHistogramFamily;
class ShardedHistogram;

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // protocol: "HTTP/1.0", "HTTP/1.1" or "HTTP/2" (protocol_label()).
  void record_request(cache::CacheStatus status, double seconds, std::string_view protocol = "HTTP/1.1");
  // relay_route_requests_total{route, cache}: one counter per cache status
  // for a route label, resolved once (a Handler does it for its config's
  // names), so counting is a relaxed add.
  using RouteCounters = std::array<prometheus::Counter*, cache::cache_status_count>;
  RouteCounters route_counters(const std::string& route);
  // The origin exchange failed; reason is derived from the error.
  void record_upstream_error(const error_code& error);
  void record_client_error(int status);
  // A client too slow: phase "head" (server.header_timeout) or "body"
  // (server.body_timeout, server.min_body_rate, or a gap of server.idle_timeout).
  void record_client_timeout(std::string_view phase);
  // A request started (true) or stopped (false) waiting for a free origin
  // connection (upstream.max_connections).
  void record_upstream_queue(bool entering);
  // A request served from another request's fill, after waiting this long for its head.
  void record_coalesced(double wait_seconds);
  // kind: "follower" (waited too long for the head) or "fill_age" (a stale fill was replaced).
  void record_coalesce_timeout(std::string_view kind);

  // Cross-instance (Redis) fill locks. result: acquired | contended | error.
  void record_lock(std::string_view result);
  void record_lock_wait(double seconds);
  // reason: unavailable | lost | timeout
  void record_lock_failure(std::string_view reason);

  // One round of a scheduled maintenance task (maintenance/scheduler.hpp).
  // result: ran | skipped (another instance holds the round) | failed;
  // removed: entries (and files) the round removed.
  void record_maintenance(std::string_view task, std::string_view result, std::uint64_t removed);

  // A purge carried out here (kind: url | prefix | glob | tag | all; mode:
  // hard | soft) and the entries it affected.
  void record_purge(std::string_view kind, std::string_view mode, std::uint64_t entries);
  // A hot reload ended (server/reload.hpp). result: success | failure (the
  // file or a start-up check refused it) | refused (a restart-only key changed).
  void record_config_reload(std::string_view result);

  // Tunnels after a protocol switch (proxy/tunnel.hpp): one opened or
  // closed, and bytes moved (to_origin: client to origin, else back).
  void record_tunnel_open(bool opened);
  void record_tunnel_bytes(bool to_origin, std::uint64_t bytes);

  // The front door (metrics/front_door_metrics.cpp). A TLS handshake ended:
  // result ok | failed | timeout; version "TLSv1.3", "TLSv1.2" ("" = none
  // agreed, counted as "unknown").
  void record_tls_handshake(std::string_view result, std::string_view version);
  // A client connection opened or closed, by protocol (HTTP/1.1 covers 1.0;
  // HTTP/2 both h2 and h2c).
  void record_client_connection(std::string_view protocol, bool opened);
  // An HTTP/2 connection closed for misbehaving: rapid_reset,
  // continuation_flood, header_flood, control_flood (SETTINGS/PING),
  // stalled (zero window), ping_timeout, protocol_error.
  void record_http2_abuse(std::string_view kind);

  // Fills no client asked for (metrics/warming_metrics.cpp). A refresh-ahead
  // ended or could not start: refreshed | revalidated | failed | busy.
  void record_refresh_ahead(std::string_view result);
  // One cache-warming request of a [[warm]] source: hit | filled | not_stored | failed.
  void record_warm_request(std::string_view source, std::string_view result);
  // A run of a source ended; complete: its URLs were collected and requested.
  void record_warm_run(std::string_view source, bool complete, std::size_t urls);

  // Storage levels (each labelled by its backend_name()) sampled at scrape time.
  void watch_storage(std::vector<std::shared_ptr<storage::Storage>> levels);

  // The Prometheus text exposition of every metric.
  std::string render();

  prometheus::Registry& registry() noexcept { return *registry_; }
  // A histogram family for the request path: observing takes no lock
  // shared between threads (sharded_histogram.hpp). Rendered with the
  // registry's families. For start-up, like the registry's builders.
  ShardedHistogramFamily& sharded_histogram_family(std::string name, std::string help);

 private:
  void register_request_metrics();
  void register_upstream_metrics();
  void register_coalescing_metrics();
  void register_storage_metrics();
  void register_config_metrics();
  void register_tunnel_metrics();
  void register_front_door_metrics();
  void register_warming_metrics();
  void sample_storage();

  std::shared_ptr<prometheus::Registry> registry_;
  static constexpr std::size_t protocol_count = 3;  // HTTP/1.0, HTTP/1.1, HTTP/2
  std::array<std::array<prometheus::Counter*, protocol_count>, cache::cache_status_count> requests_{};
  ShardedHistogram* duration_ = nullptr;
  std::array<prometheus::Counter*, 7> upstream_errors_{};    // connect, timeout, reset, protocol, other, queue, tls
  prometheus::Counter* client_errors_ = nullptr;
  prometheus::Counter* client_timeout_head_ = nullptr;
  prometheus::Counter* client_timeout_body_ = nullptr;
  prometheus::Gauge* upstream_queued_ = nullptr;
  prometheus::Counter* upstream_queued_total_ = nullptr;
  prometheus::Counter* coalesced_ = nullptr;
  prometheus::Histogram* coalesce_wait_ = nullptr;
  prometheus::Counter* coalesce_timeout_follower_ = nullptr;
  prometheus::Counter* coalesce_timeout_fill_age_ = nullptr;
  std::array<prometheus::Counter*, 3> lock_results_{};   // acquired, contended, error
  std::array<prometheus::Counter*, 3> lock_failures_{};  // unavailable, lost, timeout
  prometheus::Histogram* lock_wait_ = nullptr;
  prometheus::Family<prometheus::Counter>* maintenance_runs_ = nullptr;
  prometheus::Family<prometheus::Counter>* maintenance_removed_ = nullptr;
  prometheus::Family<prometheus::Counter>* purges_ = nullptr;
  prometheus::Counter* purged_entries_ = nullptr;
  std::array<prometheus::Counter*, 3> config_reloads_{};  // success, failure, refused
  prometheus::Gauge* tunnels_active_ = nullptr;
  std::array<prometheus::Counter*, 2> tunnel_bytes_{};  // client_to_origin, origin_to_client
  std::array<std::array<prometheus::Counter*, 3>, 3> tls_handshakes_{};  // result (ok, timeout, failed) x version
  std::array<prometheus::Gauge*, 2> client_connections_{};  // HTTP/1.1, HTTP/2
  prometheus::Family<prometheus::Counter>* http2_abuse_ = nullptr;
  std::array<prometheus::Counter*, 4> refresh_ahead_{};  // refreshed, revalidated, failed, busy
  prometheus::Family<prometheus::Counter>* warm_requests_ = nullptr;
  prometheus::Family<prometheus::Counter>* warm_runs_ = nullptr;
  prometheus::Family<prometheus::Gauge>* warm_urls_ = nullptr;
  prometheus::Family<prometheus::Gauge>* warm_last_complete_ = nullptr;

  std::mutex sharded_mutex_;  // sharded_histogram_family against render
  std::deque<ShardedHistogramFamily> sharded_families_;

  std::mutex storage_mutex_;
  std::vector<std::shared_ptr<storage::Storage>> storage_levels_;
  prometheus::Family<prometheus::Gauge>* entries_ = nullptr;
  prometheus::Family<prometheus::Gauge>* size_bytes_ = nullptr;
  prometheus::Family<prometheus::Counter>* compression_bytes_ = nullptr;
  prometheus::Family<prometheus::Counter>* route_requests_ = nullptr;
  std::map<std::string, double> compression_reported_;  // state -> bytes already added
  prometheus::Family<prometheus::Counter>* evictions_ = nullptr;
  std::map<std::string, double> evictions_reported_;  // "backend/reason" -> count already added
};

}  // namespace relay::metrics
