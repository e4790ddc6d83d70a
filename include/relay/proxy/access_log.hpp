// One line per request, as JSON or as a combined-log-like text line,
// written to stdout, stderr or a file (line-buffered, safe across threads).
// Requests the server refuses before the request path (400, 408, 414, 431)
// have their line too. Client-supplied bytes are escaped: a text field
// cannot close its quotes, and every JSON line parses (invalid UTF-8 becomes
// U+FFFD).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "relay/cache/status.hpp"
#include "relay/config/config.hpp"
#include "relay/proxy/log_writer.hpp"
#include "relay/http/request.hpp"

namespace relay::proxy {

// Views into the request and the response; method and target are empty for
// a request refused before they were read (text "-", JSON null).
struct AccessRecord {
  std::string_view client;
  std::string_view method;
  std::string_view target;
  std::string_view host;
  std::string_view protocol = "HTTP/1.1";  // http::protocol_label()
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

// Thread-safe: write() from any worker, reconfigure() and reopen() from
// the thread that handles a reload or SIGUSR1. Lines are written off the
// workers' loops by a LogWriter, at most about 50 ms after their request
// (and at exit); what a rotation or a reload finds buffered goes to the
// stream it replaces.
class AccessLog {
 public:
  // Throws std::runtime_error when a log file cannot be opened.
  explicit AccessLog(const config::LogConfig& cfg);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const noexcept { return out_ != nullptr; }
  void write(const AccessRecord& record);

  // A reload: the format and the target of `cfg` from the next line on. A
  // changed target is opened before the old one is closed; when it cannot
  // be opened this throws std::runtime_error and nothing changes.
  void reconfigure(const config::LogConfig& cfg);
  // SIGUSR1 after logrotate renamed the file: opens log.access_log's path
  // again (creating it), then closes the renamed file. false when the
  // target is no file (nothing to reopen). Throws std::runtime_error (the
  // old file stays) when the path cannot be opened.
  bool reopen();

  static std::string format_json(const AccessRecord& r, std::string_view time);
  static std::string format_text(const AccessRecord& r, std::string_view time);
  // format_text appended to line.
  static void append_text(std::string& line, const AccessRecord& r, std::string_view time);

 private:
  // Under mutex_: swaps the stream, closing the old one if it was a file.
  void swap_stream(std::FILE* next, const config::AccessLogTarget& target);

  std::atomic<std::FILE*> out_ = nullptr;  // nullptr: off
  config::AccessLogTarget target_{config::AccessLogTarget::To::Off, {}};
  std::atomic<bool> json_ = false;
  std::mutex mutex_;         // writing a batch, swapping the stream
  std::mutex change_mutex_;  // one reconfigure() or reopen() at a time (target_ is theirs)
  std::unique_ptr<LogWriter> writer_;  // last: it writes to the stream above
};

}  // namespace relay::proxy
