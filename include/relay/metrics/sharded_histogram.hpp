// Histograms for the request path when several event-loop threads record
// into them. prometheus::Histogram locks one mutex per observation, shared
// by every thread that observes; here each thread adds to its own cell
// (its own cache lines, relaxed atomic adds, no lock), and a scrape sums
// the cells. The exposition is the same as prometheus-cpp's histograms:
// collect() fills the same ClientMetric, so the text serializer prints it
// identically.
#pragma once

#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace relay::metrics {

class ShardedHistogram {
 public:
  // Threads beyond this many share cells (still correct, only no longer
  // private): far above any sensible [server] threads on one machine.
  static constexpr std::size_t cells = 16;
  static constexpr std::size_t max_bounds = 23;

  // upper_bounds: increasing, at most max_bounds of them; +Inf is implied.
  // Throws std::invalid_argument otherwise.
  explicit ShardedHistogram(std::vector<double> upper_bounds);

  void observe(double value) noexcept;
  // Counts cumulative per bound, +Inf last, as prometheus-cpp reports them.
  prometheus::ClientMetric collect() const;

 private:
  struct alignas(64) Cell {
    std::atomic<double> sum{0};
    std::array<std::atomic<std::uint64_t>, max_bounds + 1> counts{};  // per bucket, not cumulative
  };

  std::vector<double> bounds_;
  std::array<Cell, cells> cells_;
};

// A named family of ShardedHistograms, one per label set, collected as one
// Prometheus histogram family. Adding is for start-up; observing never
// touches the family.
class ShardedHistogramFamily {
 public:
  ShardedHistogramFamily(std::string name, std::string help);

  // The histogram with these labels, created on first use (later calls
  // with the same labels return it, whatever bounds they pass).
  ShardedHistogram& add(const std::map<std::string, std::string>& labels, const std::vector<double>& upper_bounds);
  prometheus::MetricFamily collect() const;

 private:
  struct Member {
    Member(std::map<std::string, std::string> l, std::vector<double> bounds)
        : labels(std::move(l)), histogram(std::move(bounds)) {}
    std::map<std::string, std::string> labels;
    ShardedHistogram histogram;
  };

  std::string name_;
  std::string help_;
  mutable std::mutex mutex_;  // add against collect; never taken by observe
  std::deque<Member> members_;  // a deque keeps members where they are as it grows
};

}  // namespace relay::metrics
