// Metric families and their label sets. Storage gauges are sampled from the
// backend at scrape time rather than updated on every write.
#include "relay/metrics/metrics.hpp"
#include "relay/metrics/process_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <string_view>

#include "relay/metrics/sharded_histogram.hpp"
#include "relay/util/error_table.hpp"

namespace relay::metrics {

namespace {
constexpr std::array<std::string_view, 3> reload_results{"success", "failure", "refused"};
constexpr std::array<std::string_view, 7> upstream_reasons{"connect", "timeout", "reset", "protocol",
                                                           "other",   "queue",   "tls"};

// The reason is the error table's label; errors without an origin label count as "other".
std::size_t upstream_error_index(const error_code& e) {
  const auto* row = error_info(e);
  auto label = row ? row->metric_label : std::string_view("other");
  auto found = std::find(upstream_reasons.begin(), upstream_reasons.end(), label);
  return found == upstream_reasons.end() ? 4 : static_cast<std::size_t>(found - upstream_reasons.begin());
}
}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  register_request_metrics();
  register_upstream_metrics();
  register_coalescing_metrics();
  register_storage_metrics();
  register_config_metrics();
  register_tunnel_metrics();
  register_front_door_metrics();
  register_warming_metrics();
}

void Metrics::register_tunnel_metrics() {
  using namespace prometheus;
  tunnels_active_ = &BuildGauge()
                         .Name("relay_tunnels_active")
                         .Help("Connections switched to another protocol (WebSocket) and tunnelled to the origin")
                         .Register(*registry_)
                         .Add({});
  auto& bytes = BuildCounter()
                    .Name("relay_tunnel_bytes_total")
                    .Help("Bytes moved through tunnels, by direction")
                    .Register(*registry_);
  tunnel_bytes_[0] = &bytes.Add({{"direction", "client_to_origin"}});
  tunnel_bytes_[1] = &bytes.Add({{"direction", "origin_to_client"}});
}

void Metrics::record_tunnel_open(bool opened) {
  if (opened)
    tunnels_active_->Increment();
  else
    tunnels_active_->Decrement();
}

void Metrics::record_tunnel_bytes(bool to_origin, std::uint64_t bytes) {
  tunnel_bytes_[to_origin ? 0 : 1]->Increment(static_cast<double>(bytes));
}

void Metrics::register_config_metrics() {
  auto& reloads = prometheus::BuildCounter()
                      .Name("relay_config_reloads_total")
                      .Help("Configuration reloads (SIGHUP, POST /reload): success, failure, refused (needs a restart)")
                      .Register(*registry_);
  for (std::size_t i = 0; i < reload_results.size(); ++i)
    config_reloads_[i] = &reloads.Add({{"result", std::string(reload_results[i])}});
}

void Metrics::register_request_metrics() {
  using namespace prometheus;
  auto& requests = BuildCounter()
                       .Name("relay_requests_total")
                       .Help("Client requests by cache status and protocol")
                       .Register(*registry_);
  static constexpr std::array<std::string_view, protocol_count> protocols{"HTTP/1.0", "HTTP/1.1", "HTTP/2"};
  for (std::size_t i = 0; i < cache::cache_status_count; ++i) {
    auto s = static_cast<cache::CacheStatus>(i);
    for (std::size_t p = 0; p < protocol_count; ++p)
      requests_[i][p] = &requests.Add(
          {{"cache", std::string(cache::metric_label(s))}, {"protocol", std::string(protocols[p])}});
  }
  route_requests_ = &BuildCounter()
                        .Name("relay_route_requests_total")
                        .Help("Client requests by route (the matching cache rule's name, else the [[routes]] "
                              "entry's, else default) and cache status")
                        .Register(*registry_);
  duration_ = &sharded_histogram_family("relay_request_duration_seconds",
                                        "Time from request head to the last byte of the response")
                    .add({}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  client_errors_ = &BuildCounter()
                        .Name("relay_client_errors_total")
                        .Help("Requests rejected as malformed, too large or too slow")
                        .Register(*registry_)
                        .Add({});
  auto& client_timeouts = BuildCounter()
                              .Name("relay_client_timeouts_total")
                              .Help("Requests cut off because the client sent its head or body too slowly (408)")
                              .Register(*registry_);
  client_timeout_head_ = &client_timeouts.Add({{"phase", "head"}});
  client_timeout_body_ = &client_timeouts.Add({{"phase", "body"}});
}

void Metrics::register_upstream_metrics() {
  using namespace prometheus;
  auto& errors = BuildCounter()
                     .Name("relay_upstream_errors_total")
                     .Help("Failed origin exchanges by reason")
                     .Register(*registry_);
  static_assert(upstream_reasons.size() == std::tuple_size_v<decltype(upstream_errors_)>);
  for (std::size_t i = 0; i < upstream_errors_.size(); ++i) {
    upstream_errors_[i] = &errors.Add({{"reason", std::string(upstream_reasons[i])}});
  }
  upstream_queued_ = &BuildGauge()
                          .Name("relay_upstream_queued_requests")
                          .Help("Requests now waiting for a free origin connection (upstream.max_connections)")
                          .Register(*registry_)
                          .Add({});
  upstream_queued_total_ = &BuildCounter()
                                .Name("relay_upstream_queued_requests_total")
                                .Help("Requests that had to wait for a free origin connection")
                                .Register(*registry_)
                                .Add({});
}

void Metrics::register_coalescing_metrics() {
  using namespace prometheus;
  coalesced_ = &BuildCounter()
                    .Name("relay_coalesced_requests_total")
                    .Help("Requests that followed another request's origin fetch instead of making their own")
                    .Register(*registry_)
                    .Add({});
  coalesce_wait_ = &BuildHistogram()
                        .Name("relay_coalesce_wait_seconds")
                        .Help("Time a coalesced request waited for the response head")
                        .Register(*registry_)
                        .Add({}, Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  auto& coalesce_timeouts = BuildCounter()
                                .Name("relay_coalesce_timeouts_total")
                                .Help("Coalescing given up: follower waited too long, or a fill grew too old")
                                .Register(*registry_);
  coalesce_timeout_follower_ = &coalesce_timeouts.Add({{"kind", "follower"}});
  coalesce_timeout_fill_age_ = &coalesce_timeouts.Add({{"kind", "fill_age"}});
  auto& locks = BuildCounter()
                    .Name("relay_lock_acquisitions_total")
                    .Help("Attempts to take a cross-instance fill lock in Redis")
                    .Register(*registry_);
  const char* lock_results[] = {"acquired", "contended", "error"};
  for (std::size_t i = 0; i < lock_results_.size(); ++i) {
    lock_results_[i] = &locks.Add({{"scope", "redis"}, {"result", lock_results[i]}});
  }
  auto& lock_failures = BuildCounter()
                            .Name("relay_lock_failures_total")
                            .Help("Cross-instance locking given up: Redis away, lock lost, waited too long")
                            .Register(*registry_);
  const char* failure_reasons[] = {"unavailable", "lost", "timeout"};
  for (std::size_t i = 0; i < lock_failures_.size(); ++i) {
    lock_failures_[i] = &lock_failures.Add({{"reason", failure_reasons[i]}});
  }
  lock_wait_ = &BuildHistogram()
                    .Name("relay_lock_wait_seconds")
                    .Help("Time spent waiting for another instance's fill")
                    .Register(*registry_)
                    .Add({}, Histogram::BucketBoundaries{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
}

void Metrics::register_storage_metrics() {
  using namespace prometheus;
  maintenance_runs_ = &BuildCounter()
                           .Name("relay_maintenance_runs_total")
                           .Help("Scheduled maintenance rounds: ran, skipped (another instance ran it), failed")
                           .Register(*registry_);
  maintenance_removed_ = &BuildCounter()
                              .Name("relay_maintenance_removed_total")
                              .Help("Entries and abandoned files removed by scheduled maintenance")
                              .Register(*registry_);
  purges_ = &BuildCounter()
                 .Name("relay_purges_total")
                 .Help("Purges carried out by this instance, by kind (url, prefix, glob, tag, all) and mode (hard, soft)")
                 .Register(*registry_);
  for (const char* kind : {"url", "prefix", "glob", "tag", "all"})
    for (const char* mode : {"hard", "soft"}) purges_->Add({{"kind", kind}, {"mode", mode}});
  purged_entries_ = &BuildCounter()
                         .Name("relay_purged_entries_total")
                         .Help("Cache entries removed or marked stale by purges")
                         .Register(*registry_)
                         .Add({});
  entries_ = &BuildGauge().Name("relay_cache_entries").Help("Objects in the cache").Register(*registry_);
  size_bytes_ = &BuildGauge()
                     .Name("relay_cache_size_bytes")
                     .Help("Bytes accounted to cached objects (headers, body, overhead)")
                     .Register(*registry_);
  compression_bytes_ = &BuildCounter()
                            .Name("relay_storage_compression_bytes_total")
                            .Help("Bodies compressed at rest and committed: bytes as the origin sent them (raw) "
                                  "and as kept (compressed)")
                            .Register(*registry_);
  evictions_ = &BuildCounter()
                    .Name("relay_cache_evictions_total")
                    .Help("Objects removed by the store: capacity, expired, integrity")
                    .Register(*registry_);
}

Metrics::~Metrics() = default;

void Metrics::record_request(cache::CacheStatus status, double seconds, std::string_view protocol) {
  const std::size_t p = protocol == "HTTP/2" ? 2 : protocol == "HTTP/1.0" ? 0 : 1;
  requests_[static_cast<std::size_t>(status)][p]->Increment();
  duration_->observe(seconds);
}

Metrics::RouteCounters Metrics::route_counters(const std::string& route) {
  RouteCounters out{};
  for (std::size_t i = 0; i < cache::cache_status_count; ++i) {
    out[i] = &route_requests_->Add(
        {{"route", route}, {"cache", std::string(cache::metric_label(static_cast<cache::CacheStatus>(i)))}});
  }
  return out;
}

void Metrics::record_upstream_error(const error_code& error) {
  upstream_errors_[upstream_error_index(error)]->Increment();
}

void Metrics::record_client_error(int) { client_errors_->Increment(); }

void Metrics::record_client_timeout(std::string_view phase) {
  (phase == "head" ? client_timeout_head_ : client_timeout_body_)->Increment();
}

void Metrics::record_upstream_queue(bool entering) {
  if (entering) {
    upstream_queued_->Increment();
    upstream_queued_total_->Increment();
  } else {
    upstream_queued_->Decrement();
  }
}

void Metrics::record_coalesced(double wait_seconds) {
  coalesced_->Increment();
  coalesce_wait_->Observe(wait_seconds);
}

void Metrics::record_lock(std::string_view result) {
  lock_results_[result == "acquired" ? 0 : result == "contended" ? 1 : 2]->Increment();
}

void Metrics::record_lock_wait(double seconds) { lock_wait_->Observe(seconds); }

void Metrics::record_lock_failure(std::string_view reason) {
  lock_failures_[reason == "unavailable" ? 0 : reason == "lost" ? 1 : 2]->Increment();
}

void Metrics::record_coalesce_timeout(std::string_view kind) {
  (kind == "follower" ? coalesce_timeout_follower_ : coalesce_timeout_fill_age_)->Increment();
}

// Tasks are few and rounds minutes apart: the label lookups per call are cheap.
void Metrics::record_maintenance(std::string_view task, std::string_view result, std::uint64_t removed) {
  std::string name(task);
  // Every result is exported from the first round on, 0 until it happens.
  for (const char* r : {"ran", "skipped", "failed"}) {
    auto& counter = maintenance_runs_->Add({{"task", name}, {"result", r}});
    if (result == r) counter.Increment();
  }
  maintenance_removed_->Add({{"task", name}}).Increment(static_cast<double>(removed));
}

void Metrics::record_purge(std::string_view kind, std::string_view mode, std::uint64_t entries) {
  purges_->Add({{"kind", std::string(kind)}, {"mode", std::string(mode)}}).Increment();
  purged_entries_->Increment(static_cast<double>(entries));
}

void Metrics::record_config_reload(std::string_view result) {
  auto found = std::find(reload_results.begin(), reload_results.end(), result);
  if (found != reload_results.end()) config_reloads_[static_cast<std::size_t>(found - reload_results.begin())]->Increment();
}

void Metrics::watch_storage(std::vector<std::shared_ptr<storage::Storage>> levels) {
  std::lock_guard lock(storage_mutex_);
  storage_levels_ = std::move(levels);
}

namespace {
// Brings a counter fed from a store's running total up to that total. A
// total that steps back for a moment (a failed commit taking its count
// back) is waited for: a counter never decreases.
void catch_up(prometheus::Counter& counter, double& reported, std::uint64_t total) {
  if (static_cast<double>(total) <= reported) return;
  counter.Increment(static_cast<double>(total) - reported);
  reported = static_cast<double>(total);
}
}  // namespace

void Metrics::sample_storage() {
  std::uint64_t raw = 0;
  std::uint64_t compressed = 0;
  for (const auto& level : storage_levels_) {
    auto stats = level->stats();
    std::string backend(level->backend_name());
    entries_->Add({{"backend", backend}}).Set(static_cast<double>(stats.entries));
    size_bytes_->Add({{"backend", backend}}).Set(static_cast<double>(stats.size_bytes));
    raw += stats.raw_bytes;
    compressed += stats.compressed_bytes;
    const std::pair<const char*, std::uint64_t> by_reason[] = {
        {"capacity", stats.evictions}, {"expired", stats.expirations}, {"integrity", stats.integrity_failures}};
    for (auto [reason, count] : by_reason) {
      catch_up(evictions_->Add({{"backend", backend}, {"reason", reason}}),
               evictions_reported_[backend + "/" + reason], count);
    }
  }
  for (auto [state, bytes] : {std::pair{"raw", raw}, std::pair{"compressed", compressed}}) {
    catch_up(compression_bytes_->Add({{"state", state}}), compression_reported_[state], bytes);
  }
}

ShardedHistogramFamily& Metrics::sharded_histogram_family(std::string name, std::string help) {
  std::lock_guard lock(sharded_mutex_);
  return sharded_families_.emplace_back(std::move(name), std::move(help));
}

std::string Metrics::render() {
  std::lock_guard lock(storage_mutex_);
  sample_storage();
  auto families = registry_->Collect();
  {
    std::lock_guard sharded(sharded_mutex_);
    for (const auto& family : sharded_families_) families.push_back(family.collect());
  }
  for (auto& f : process_metrics()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace relay::metrics
