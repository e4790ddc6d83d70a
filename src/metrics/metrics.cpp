// Metric families and their label sets. Storage gauges are sampled from the
// backend at scrape time rather than updated on every write.
#include "relay/metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <mutex>

namespace relay::metrics {

namespace {
std::size_t upstream_error_index(const error_code& e) {
  if (e == Errc::upstream_connect_failed) return 0;
  if (e == Errc::upstream_timeout || e == Errc::upstream_first_byte_timeout ||
      e == Errc::upstream_idle_timeout)
    return 1;
  if (e == Errc::upstream_reset) return 2;
  if (e == Errc::upstream_protocol) return 3;
  return 4;
}
std::mutex render_mutex;
}  // namespace

Metrics::Metrics(std::shared_ptr<storage::Storage> storage)
    : storage_(std::move(storage)), registry_(std::make_shared<prometheus::Registry>()) {
  using namespace prometheus;
  auto& requests = BuildCounter()
                       .Name("relay_requests_total")
                       .Help("Client requests by cache status")
                       .Register(*registry_);
  for (std::size_t i = 0; i < cache::cache_status_count; ++i) {
    auto s = static_cast<cache::CacheStatus>(i);
    requests_[i] = &requests.Add({{"cache", std::string(cache::metric_label(s))}});
  }
  duration_ = &BuildHistogram()
                   .Name("relay_request_duration_seconds")
                   .Help("Time from request head to the last byte of the response")
                   .Register(*registry_)
                   .Add({}, Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25, 0.5, 1, 2.5, 5, 10, 30});
  auto& outcomes = BuildCounter()
                       .Name("relay_upstream_requests_total")
                       .Help("Requests sent to the origin by outcome")
                       .Register(*registry_);
  const char* outcome_names[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};
  for (std::size_t i = 0; i < upstream_outcomes_.size(); ++i) {
    upstream_outcomes_[i] = &outcomes.Add({{"outcome", outcome_names[i]}});
  }
  auto& errors = BuildCounter()
                     .Name("relay_upstream_errors_total")
                     .Help("Failed origin exchanges by reason")
                     .Register(*registry_);
  const char* reasons[] = {"connect", "timeout", "reset", "protocol", "other"};
  for (std::size_t i = 0; i < upstream_errors_.size(); ++i) {
    upstream_errors_[i] = &errors.Add({{"reason", reasons[i]}});
  }
  storage_errors_ = &BuildCounter()
                         .Name("relay_storage_errors_total")
                         .Help("Storage operations that failed and were passed through")
                         .Register(*registry_)
                         .Add({});
  client_errors_ = &BuildCounter()
                        .Name("relay_client_errors_total")
                        .Help("Requests rejected as malformed, too large or too slow")
                        .Register(*registry_)
                        .Add({});
  entries_ = &BuildGauge().Name("relay_cache_entries").Help("Objects in the cache").Register(*registry_).Add({});
  size_bytes_ = &BuildGauge()
                     .Name("relay_cache_size_bytes")
                     .Help("Bytes accounted to cached objects (headers, body, overhead)")
                     .Register(*registry_)
                     .Add({});
  evictions_ = &BuildCounter()
                    .Name("relay_cache_evictions_total")
                    .Help("Objects evicted to make room")
                    .Register(*registry_)
                    .Add({});
}

Metrics::~Metrics() = default;

void Metrics::record_request(cache::CacheStatus status, double seconds) {
  requests_[static_cast<std::size_t>(status)]->Increment();
  duration_->Observe(seconds);
}

void Metrics::record_upstream_response(int status) {
  auto index = static_cast<std::size_t>(std::clamp(status / 100, 1, 5) - 1);
  upstream_outcomes_[index]->Increment();
}

void Metrics::record_upstream_error(const error_code& error) {
  upstream_outcomes_.back()->Increment();
  upstream_errors_[upstream_error_index(error)]->Increment();
}

void Metrics::record_storage_error() { storage_errors_->Increment(); }

void Metrics::record_client_error(int) { client_errors_->Increment(); }

std::string Metrics::render() {
  std::lock_guard lock(render_mutex);
  auto stats = storage_->stats();
  entries_->Set(static_cast<double>(stats.entries));
  size_bytes_->Set(static_cast<double>(stats.size_bytes));
  auto evicted = static_cast<double>(stats.evictions);
  if (evicted > evictions_reported_) {
    evictions_->Increment(evicted - evictions_reported_);
    evictions_reported_ = evicted;
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace relay::metrics
