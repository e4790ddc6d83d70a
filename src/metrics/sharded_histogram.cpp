#include "relay/metrics/sharded_histogram.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace relay::metrics {

namespace {

// Each thread takes the next cell the first time it observes anything, so
// the event-loop threads (started together, a few of them) get cells of
// their own.
std::size_t this_threads_cell() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t cell = next.fetch_add(1, std::memory_order_relaxed) % ShardedHistogram::cells;
  return cell;
}

}  // namespace

ShardedHistogram::ShardedHistogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  if (bounds_.size() > max_bounds) throw std::invalid_argument("histogram: too many bucket bounds");
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    throw std::invalid_argument("histogram: bucket bounds must increase");
  }
}

void ShardedHistogram::observe(double value) noexcept {
  // A value equal to a bound belongs to that bound's bucket (le).
  const auto bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  auto& cell = cells_[this_threads_cell()];
  cell.counts[bucket].fetch_add(1, std::memory_order_relaxed);
  cell.sum.fetch_add(value, std::memory_order_relaxed);
}

prometheus::ClientMetric ShardedHistogram::collect() const {
  std::array<std::uint64_t, max_bounds + 1> counts{};
  double sum = 0;
  for (const auto& cell : cells_) {
    sum += cell.sum.load(std::memory_order_relaxed);
    for (std::size_t b = 0; b <= bounds_.size(); ++b) counts[b] += cell.counts[b].load(std::memory_order_relaxed);
  }
  prometheus::ClientMetric metric;
  auto& h = metric.histogram;
  h.bucket.reserve(bounds_.size() + 1);
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b <= bounds_.size(); ++b) {
    cumulative += counts[b];
    h.bucket.push_back({cumulative, b < bounds_.size() ? bounds_[b] : std::numeric_limits<double>::infinity()});
  }
  h.sample_count = cumulative;
  h.sample_sum = sum;
  return metric;
}

ShardedHistogramFamily::ShardedHistogramFamily(std::string name, std::string help)
    : name_(std::move(name)), help_(std::move(help)) {}

ShardedHistogram& ShardedHistogramFamily::add(const std::map<std::string, std::string>& labels,
                                              const std::vector<double>& upper_bounds) {
  std::lock_guard lock(mutex_);
  for (auto& member : members_) {
    if (member.labels == labels) return member.histogram;
  }
  return members_.emplace_back(labels, upper_bounds).histogram;
}

prometheus::MetricFamily ShardedHistogramFamily::collect() const {
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Histogram;
  std::lock_guard lock(mutex_);
  for (const auto& member : members_) {
    auto metric = member.histogram.collect();
    for (const auto& [name, value] : member.labels) metric.label.push_back({name, value});
    family.metric.push_back(std::move(metric));
  }
  return family;
}

}  // namespace relay::metrics
