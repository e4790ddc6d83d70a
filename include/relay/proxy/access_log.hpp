// One line per request, as JSON or as a combined-log-like text line,
// written to stdout, stderr or a file (line-buffered, safe across threads).
// Requests the server refuses before the request path (400, 408, 414, 431)
// have their line too. Client-supplied bytes are escaped: a text field
// cannot close its quotes, and every JSON line parses (invalid UTF-8 becomes
// U+FFFD).
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "relay/cache/status.hpp"
#include "relay/config/config.hpp"
#include "relay/http/request.hpp"

namespace relay::proxy {

// Views into the request and the response; method and target are empty for
// a request refused before they were read (text "-", JSON null).
struct AccessRecord {
  std::string_view client;
  std::string_view method;
  std::string_view target;
  std::string_view host;
  int version_minor = 1;
  int status = 0;
  cache::CacheStatus cache = cache::CacheStatus::Bypass;
  std::uint64_t bytes = 0;
  double duration_seconds = 0;
  double upstream_seconds = -1;  // negative: the origin was not contacted
  std::string_view request_id;
  std::string_view referer;
  std::string_view user_agent;
};

// Why log.access_log could not be opened at start, checked without creating
// or changing the file ("" when it can be, or when it is not a file): an
// existing file is opened for appending and closed, a missing one needs a
// writable directory. For --check-config.
std::string access_log_problem(const config::AccessLogTarget& target);

// The request's part of its record: client, method, target as received,
// version, request id, Host, Referer, User-Agent. Views into req.
AccessRecord request_record(const http::Request& req);

class AccessLog {
 public:
  // Throws std::runtime_error when a log file cannot be opened.
  explicit AccessLog(const config::LogConfig& cfg);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const noexcept { return out_ != nullptr; }
  void write(const AccessRecord& record);

  static std::string format_json(const AccessRecord& r, std::string_view time);
  static std::string format_text(const AccessRecord& r, std::string_view time);

 private:
  std::FILE* out_ = nullptr;
  bool owns_file_ = false;
  bool json_ = false;
  std::mutex mutex_;
};

}  // namespace relay::proxy
