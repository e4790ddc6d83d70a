// Per-member origin metrics (origin_metrics.hpp).
#include "relay/metrics/origin_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace relay::metrics {

void MemberMetrics::record(int status, double seconds) const {
  const std::size_t index = status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100 - 1) : 5;
  by_class_[index]->Increment();
  if (status != 0) latency_->Observe(seconds);
}

void MemberMetrics::set_health(bool up) const { health_->Set(up ? 1 : 0); }

OriginMetrics::OriginMetrics(prometheus::Registry& registry)
    : requests_(&prometheus::BuildCounter()
                     .Name("relay_upstream_requests_total")
                     .Help("Requests sent to origin pool members, by status class (error: no response head)")
                     .Register(registry)),
      latency_(&prometheus::BuildHistogram()
                    .Name("relay_upstream_response_seconds")
                    .Help("Time from sending a request to a pool member to its response head")
                    .Register(registry)),
      health_(&prometheus::BuildGauge()
                   .Name("relay_upstream_health")
                   .Help("Whether a pool member takes requests (1) or is down or ejected (0)")
                   .Register(registry)) {}

MemberMetrics OriginMetrics::member(std::string_view origin, std::string_view member) {
  MemberMetrics out;
  const std::string o(origin), m(member);
  const char* classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};
  for (std::size_t i = 0; i < out.by_class_.size(); ++i)
    out.by_class_[i] = &requests_->Add({{"origin", o}, {"member", m}, {"status_class", classes[i]}});
  out.latency_ = &latency_->Add({{"origin", o}, {"member", m}},
                                prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                        0.5, 1, 2.5, 5, 10, 30});
  out.health_ = &health_->Add({{"origin", o}, {"member", m}});
  out.health_->Set(1);
  return out;
}

}  // namespace relay::metrics
