// ShardedHistogram against prometheus-cpp's own Histogram: the same
// observations must give the same exposition, whichever threads made them.
#include <doctest/doctest.h>
#include <prometheus/histogram.h>
#include <prometheus/text_serializer.h>

#include <stdexcept>
#include <thread>
#include <vector>

#include "relay/metrics/sharded_histogram.hpp"

using relay::metrics::ShardedHistogram;
using relay::metrics::ShardedHistogramFamily;

namespace {

const std::vector<double> bounds{0.001, 0.01, 0.1, 1, 10};

std::string text(const prometheus::ClientMetric& metric) {
  prometheus::MetricFamily family{"h", "help", prometheus::MetricType::Histogram, {metric}};
  return prometheus::TextSerializer().Serialize({family});
}

}  // namespace

TEST_CASE("sharded histogram: the same buckets, count and sum as prometheus::Histogram, bounds included") {
  ShardedHistogram sharded(bounds);
  prometheus::Histogram reference(bounds);
  // Values on a bound belong to its bucket (le), below the first, past the last.
  for (double v : {0.0, 0.001, 0.0011, 0.01, 0.5, 1.0, 9.99, 10.0, 10.5, 1e9}) {
    sharded.observe(v);
    reference.Observe(v);
  }
  CHECK(text(sharded.collect()) == text(reference.Collect()));
  const auto h = sharded.collect().histogram;
  REQUIRE(h.bucket.size() == 6);
  CHECK(h.bucket[0].cumulative_count == 2);  // 0 and 0.001
  CHECK(h.bucket[4].cumulative_count == 8);  // up to 10 inclusive
  CHECK(h.bucket[5].cumulative_count == 10);
  CHECK(h.sample_count == 10);
}

TEST_CASE("sharded histogram: observations from many threads are all counted") {
  ShardedHistogram sharded(bounds);
  prometheus::Histogram reference(bounds);
  constexpr int threads = 20;  // more than the cells, so some share one
  constexpr int per_thread = 5000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) sharded.observe(0.0005 * ((t + i) % 7));
    });
  }
  for (auto& thread : pool) thread.join();
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < per_thread; ++i) reference.Observe(0.0005 * ((t + i) % 7));
  }
  const auto got = sharded.collect().histogram;
  const auto want = reference.Collect().histogram;
  CHECK(got.sample_count == threads * per_thread);
  REQUIRE(got.bucket.size() == want.bucket.size());
  for (std::size_t b = 0; b < got.bucket.size(); ++b) CHECK(got.bucket[b].cumulative_count == want.bucket[b].cumulative_count);
  CHECK(got.sample_sum == doctest::Approx(want.sample_sum));
}

TEST_CASE("sharded histogram family: one member per label set, labelled in the exposition") {
  ShardedHistogramFamily family("relay_test_seconds", "A test");
  auto& get = family.add({{"op", "get"}, {"backend", "memory"}}, bounds);
  auto& put = family.add({{"op", "put"}, {"backend", "memory"}}, bounds);
  CHECK(&family.add({{"backend", "memory"}, {"op", "get"}}, bounds) == &get);
  get.observe(0.002);
  put.observe(2);
  put.observe(3);
  const auto collected = family.collect();
  CHECK(collected.name == "relay_test_seconds");
  CHECK(collected.type == prometheus::MetricType::Histogram);
  const auto out = prometheus::TextSerializer().Serialize({collected});
  CHECK(out.find("relay_test_seconds_count{backend=\"memory\",op=\"get\"} 1") != std::string::npos);
  CHECK(out.find("relay_test_seconds_count{backend=\"memory\",op=\"put\"} 2") != std::string::npos);
  CHECK(out.find("relay_test_seconds_bucket{backend=\"memory\",op=\"put\",le=\"+Inf\"} 2") != std::string::npos);
  CHECK(out.find("relay_test_seconds_sum{backend=\"memory\",op=\"put\"} 5") != std::string::npos);
}

TEST_CASE("sharded histogram: bounds that do not increase, or too many, are refused") {
  CHECK_THROWS_AS(ShardedHistogram({1, 0.5}), std::invalid_argument);
  CHECK_THROWS_AS(ShardedHistogram({1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(ShardedHistogram(std::vector<double>(ShardedHistogram::max_bounds + 1, 0)), std::invalid_argument);
}
