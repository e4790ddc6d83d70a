// The process_* metrics every Prometheus client library exports (CPU time,
// memory, descriptors, start time), read from /proc when /metrics is
// scraped, so dashboards and alerts written for any exporter work on relay.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace prometheus {
struct MetricFamily;
}

namespace relay::metrics {

// What /proc/self/stat says, in the units of the metrics.
struct ProcStat {
  double cpu_seconds = 0;           // utime + stime
  double start_seconds_after_boot = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t resident_bytes = 0;
};

// Parses a /proc/<pid>/stat line; nullopt when it is not one. The command
// name may hold spaces and parentheses: fields are counted after the last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view line, long ticks_per_second, long page_size);

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds for this process; those /proc cannot give
// are left out.
std::vector<prometheus::MetricFamily> process_metrics();

}  // namespace relay::metrics
