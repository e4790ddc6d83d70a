// process_* metrics from /proc (process_metrics.hpp).
#include "relay/metrics/process_metrics.hpp"

#include <prometheus/metric_family.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace relay::metrics {
namespace {

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type, double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {m}};
}

std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  if (ec) return std::nullopt;
  return n - 1;  // the directory iterator's own descriptor
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view line, long ticks_per_second, long page_size) {
  const auto close = line.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0 || page_size <= 0) return std::nullopt;
  // After "pid (comm)": field 3 (state) onwards, so field N is rest[N - 3].
  std::vector<std::string_view> rest;
  for (auto text = line.substr(close + 1); !text.empty();) {
    const auto start = text.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    const auto end = text.find(' ');
    rest.push_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
  }
  const auto field = [&](std::size_t n) -> std::optional<std::uint64_t> {
    if (n < 3 || n - 3 >= rest.size()) return std::nullopt;
    std::uint64_t v = 0;
    auto s = rest[n - 3];
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
  };
  // proc(5): utime 14, stime 15, starttime 22 (ticks), vsize 23 (bytes), rss 24 (pages).
  auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  const auto ticks = static_cast<double>(ticks_per_second);
  return ProcStat{static_cast<double>(*utime + *stime) / ticks, static_cast<double>(*start) / ticks, *vsize,
                  *rss * static_cast<std::uint64_t>(page_size)};
}

std::vector<prometheus::MetricFamily> process_metrics() {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  if (auto stat = parse_proc_stat(line, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE))) {
    out.push_back(family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         MetricType::Counter, stat->cpu_seconds));
    out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
                         static_cast<double>(stat->resident_bytes)));
    out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
                         static_cast<double>(stat->virtual_bytes)));
    if (auto boot = boot_time_seconds()) {
      out.push_back(family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                           MetricType::Gauge, *boot + stat->start_seconds_after_boot));
    }
  }
  if (auto fds = open_fds()) {
    out.push_back(family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, *fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    out.push_back(family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                         static_cast<double>(limit.rlim_cur)));
  }
  return out;
}

}  // namespace relay::metrics
