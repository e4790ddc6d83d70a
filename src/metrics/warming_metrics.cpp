// Metrics of the fills no client asked for: refresh-ahead and cache
// warming. Label values come from fixed lists and the [[warm]] names of
// the configuration, so no family grows without bound.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>

#include "relay/metrics/metrics.hpp"

namespace relay::metrics {

namespace {
constexpr std::string_view kRefreshResults[] = {"refreshed", "revalidated", "failed", "busy"};
constexpr std::string_view kWarmResults[] = {"hit", "filled", "not_stored", "failed"};
}  // namespace

void Metrics::register_warming_metrics() {
  using namespace prometheus;
  auto& refresh = BuildCounter()
                      .Name("relay_refresh_ahead_total")
                      .Help("Refresh-ahead of popular objects before they expire: refreshed (a new response "
                            "stored), revalidated (304), failed, busy (max_concurrent reached, not started)")
                      .Register(*registry_);
  for (std::size_t i = 0; i < refresh_ahead_.size(); ++i)
    refresh_ahead_[i] = &refresh.Add({{"result", std::string(kRefreshResults[i])}});
  warm_requests_ = &BuildCounter()
                        .Name("relay_warm_requests_total")
                        .Help("Cache-warming requests by [[warm]] source and result: hit (already fresh), filled "
                              "(fetched or revalidated and stored), not_stored, failed")
                        .Register(*registry_);
  warm_runs_ = &BuildCounter()
                    .Name("relay_warm_runs_total")
                    .Help("Cache-warming runs by source and result: complete, failed (no URL list)")
                    .Register(*registry_);
  warm_urls_ = &BuildGauge()
                    .Name("relay_warm_urls")
                    .Help("URLs the last run of each [[warm]] source collected")
                    .Register(*registry_);
  warm_last_complete_ = &BuildGauge()
                             .Name("relay_warm_last_complete_timestamp_seconds")
                             .Help("When each [[warm]] source last completed a run (Unix time)")
                             .Register(*registry_);
}

void Metrics::record_refresh_ahead(std::string_view result) {
  for (std::size_t i = 0; i < refresh_ahead_.size(); ++i)
    if (kRefreshResults[i] == result) refresh_ahead_[i]->Increment();
}

void Metrics::record_warm_request(std::string_view source, std::string_view result) {
  warm_requests_->Add({{"source", std::string(source)}, {"result", std::string(result)}}).Increment();
}

void Metrics::record_warm_run(std::string_view source, bool complete, std::size_t urls) {
  const std::string name(source);
  // Every result of a source is exported from its first run on.
  for (std::string_view result : kWarmResults) warm_requests_->Add({{"source", name}, {"result", std::string(result)}});
  warm_runs_->Add({{"source", name}, {"result", "failed"}});
  warm_runs_->Add({{"source", name}, {"result", "complete"}});
  warm_runs_->Add({{"source", name}, {"result", complete ? "complete" : "failed"}}).Increment();
  if (!complete) return;
  warm_urls_->Add({{"source", name}}).Set(static_cast<double>(urls));
  const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  warm_last_complete_->Add({{"source", name}}).Set(now);
}

}  // namespace relay::metrics
