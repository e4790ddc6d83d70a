// process_* metrics: the /proc/self/stat parser, and the families as a
// scrape shows them.
#include <doctest/doctest.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "relay/metrics/process_metrics.hpp"

using relay::metrics::parse_proc_stat;

TEST_CASE("process metrics: /proc/self/stat fields are counted after the last ')' of the command") {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice threads itreal starttime vsize rss ...
  const std::string line =
      "4242 (re lay) x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 12345 104857600 2560 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  auto stat = parse_proc_stat(line, 100, 4096);
  REQUIRE(stat.has_value());
  CHECK(stat->cpu_seconds == doctest::Approx(3.0));  // (250 + 50) / 100
  CHECK(stat->start_seconds_after_boot == doctest::Approx(123.45));
  CHECK(stat->virtual_bytes == 104857600);
  CHECK(stat->resident_bytes == 2560ull * 4096);
  CHECK_FALSE(parse_proc_stat("4242 (relay) S 1 2", 100, 4096).has_value());  // truncated
  CHECK_FALSE(parse_proc_stat("no parenthesis at all", 100, 4096).has_value());
  CHECK_FALSE(parse_proc_stat(line, 0, 4096).has_value());
}

TEST_CASE("process metrics: this process's families, with plausible values") {
  auto families = relay::metrics::process_metrics();
  auto value = [&](const std::string& name) -> double {
    for (const auto& f : families)
      if (f.name == name) return f.type == prometheus::MetricType::Counter ? f.metric.at(0).counter.value
                                                                          : f.metric.at(0).gauge.value;
    FAIL("no family " << name);
    return 0;
  };
  CHECK(value("process_cpu_seconds_total") >= 0);
  CHECK(value("process_resident_memory_bytes") > 1 << 20);
  CHECK(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
  CHECK(value("process_open_fds") >= 3);
  CHECK(value("process_max_fds") >= value("process_open_fds"));
  const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(value("process_start_time_seconds") <= now + 1);
  CHECK(value("process_start_time_seconds") > now - 3600);  // a test run is younger than an hour
}
