// Prometheus metrics: one registry (prometheus-cpp core), served as text by
// relay's own server at [metrics] path. Counters used on the request path
// are resolved once at start-up, so recording is a relaxed atomic add.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "relay/cache/status.hpp"
#include "relay/storage/storage.hpp"
#include "relay/util/result.hpp"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace relay::metrics {

class Metrics {
 public:
  explicit Metrics(std::shared_ptr<storage::Storage> storage);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void record_request(cache::CacheStatus status, double seconds);
  // The origin answered with this status.
  void record_upstream_response(int status);
  // The origin exchange failed; reason is derived from the error.
  void record_upstream_error(const error_code& error);
  void record_storage_error();
  void record_client_error(int status);

  // The Prometheus text exposition of every metric.
  std::string render();

 private:
  std::shared_ptr<storage::Storage> storage_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::array<prometheus::Counter*, cache::cache_status_count> requests_{};
  prometheus::Histogram* duration_ = nullptr;
  std::array<prometheus::Counter*, 6> upstream_outcomes_{};  // 1xx..5xx, error
  std::array<prometheus::Counter*, 5> upstream_errors_{};    // connect, timeout, reset, protocol, other
  prometheus::Counter* storage_errors_ = nullptr;
  prometheus::Counter* client_errors_ = nullptr;
  prometheus::Gauge* entries_ = nullptr;
  prometheus::Gauge* size_bytes_ = nullptr;
  prometheus::Counter* evictions_ = nullptr;
  double evictions_reported_ = 0;
};

}  // namespace relay::metrics
