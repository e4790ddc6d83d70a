// Metrics per origin pool member: requests by status class, time to the
// response head, and health. Label sets are created once per member at start
// (members are fixed until a restart), so recording is an atomic add.
#pragma once

#include <array>
#include <string_view>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace relay::metrics {

class MemberMetrics {
 public:
  // status 0: the exchange failed before a response head (status_class "error").
  void record(int status, double seconds) const;
  void set_health(bool up) const;

 private:
  friend class OriginMetrics;
  std::array<prometheus::Counter*, 6> by_class_{};  // 1xx..5xx, error
  prometheus::Histogram* latency_ = nullptr;
  prometheus::Gauge* health_ = nullptr;
};

// relay_upstream_requests_total{origin, member, status_class},
// relay_upstream_response_seconds{origin, member},
// relay_upstream_health{origin, member} (1 healthy, 0 not).
class OriginMetrics {
 public:
  explicit OriginMetrics(prometheus::Registry& registry);
  MemberMetrics member(std::string_view origin, std::string_view member);

 private:
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Gauge>* health_;
};

}  // namespace relay::metrics
