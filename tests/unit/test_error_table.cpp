// The error table (every Errc has a row and the category reads its message
// from it) and the per-kind rate limiter, with an injected clock.
#include <doctest/doctest.h>

#include <chrono>

#include "relay/util/error_table.hpp"
#include "relay/util/rate_limit.hpp"

using namespace relay;
using namespace std::chrono_literals;

TEST_CASE("error table: sources, statuses and labels as the request path uses them") {
  struct Expect {
    Errc code;
    ErrorSource source;
    int status;
    std::string_view label;
    bool retryable;
  };
  const Expect table[] = {
      {Errc::upstream_connect_failed, ErrorSource::origin, 502, "connect", true},
      {Errc::upstream_timeout, ErrorSource::origin, 504, "timeout", true},
      {Errc::upstream_first_byte_timeout, ErrorSource::origin, 504, "timeout", true},
      {Errc::upstream_idle_timeout, ErrorSource::origin, 504, "timeout", true},
      {Errc::upstream_reset, ErrorSource::origin, 502, "reset", true},
      {Errc::upstream_protocol, ErrorSource::origin, 502, "protocol", false},
      {Errc::upstream_transfer_coding, ErrorSource::origin, 502, "protocol", false},
      {Errc::upstream_failed, ErrorSource::origin, 502, "other", false},
      {Errc::upstream_tls, ErrorSource::origin, 502, "tls", false},
      {Errc::upstream_queue_timeout, ErrorSource::internal, 503, "queue", true},
      {Errc::client_closed, ErrorSource::client, 0, "client_closed", false},
      {Errc::client_timeout, ErrorSource::client, 408, "client_timeout", false},
      {Errc::bad_request, ErrorSource::client, 400, "bad_request", false},
      {Errc::storage_unavailable, ErrorSource::storage, 0, "unavailable", true},
      {Errc::object_too_large, ErrorSource::storage, 0, "too_large", false},
      {Errc::storage_corrupt, ErrorSource::storage, 0, "integrity", false},
  };
  for (const auto& e : table) {
    CAPTURE(static_cast<int>(e.code));
    const auto& row = error_info(e.code);
    CHECK(row.source == e.source);
    CHECK(row.status == e.status);
    CHECK(row.metric_label == e.label);
    CHECK(row.retryable == e.retryable);
    CHECK(make_error_code(e.code).message() == row.message);
    CHECK(error_info(make_error_code(e.code)) == &row);
  }
  CHECK(error_info(make_error_code(boost::system::errc::timed_out)) == nullptr);
  CHECK(error_info(error_code(99, relay_category())) == nullptr);
  CHECK(error_code(99, relay_category()).message() == "unknown relay error");
  CHECK(source_name(ErrorSource::storage) == "storage");
}

TEST_CASE("rate limiter: first passes, the rest of the interval is counted, the next carries the count") {
  RateLimiter limiter(10s);
  RateLimiter::clock::time_point t0{};
  auto first = limiter.admit("redis", t0);
  CHECK(first.pass);
  CHECK(first.suppressed == 0);
  for (int i = 1; i <= 523; ++i)
    CHECK_FALSE(limiter.admit("redis", t0 + std::chrono::milliseconds(i * 10)).pass);
  // Another kind has its own budget.
  CHECK(limiter.admit("disk", t0 + 1s).pass);
  auto summary = limiter.admit("redis", t0 + 10s);
  CHECK(summary.pass);
  CHECK(summary.suppressed == 523);
  CHECK(summary.since == 10s);
  // The interval restarts from the line that passed.
  CHECK_FALSE(limiter.admit("redis", t0 + 19s).pass);
  auto next = limiter.admit("redis", t0 + 20s);
  CHECK(next.pass);
  CHECK(next.suppressed == 1);
}
