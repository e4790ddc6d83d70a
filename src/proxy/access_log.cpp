// Access log formatting. JSON strings are escaped; text lines follow the
// combined format operators already parse, with relay's fields appended.
#include "relay/proxy/access_log.hpp"

#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "relay/util/json.hpp"

namespace relay::proxy {

namespace {
void append_json_string(std::string& out, std::string_view s) { out += json::quote(s); }

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

std::string timestamp(bool iso) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%d/%b/%Y:%H:%M:%S +0000", &tm);
  return buf;
}

std::string_view or_dash(std::string_view s) { return s.empty() ? std::string_view("-") : s; }
}  // namespace

AccessLog::AccessLog(const config::LogConfig& cfg) : json_(cfg.format == config::LogFormat::Json) {
  using To = config::AccessLogTarget::To;
  const auto& target = cfg.access_log;
  if (target.to == To::Off) return;
  if (target.to == To::Stdout) {
    out_ = stdout;
  } else if (target.to == To::Stderr) {
    out_ = stderr;
  } else {
    out_ = std::fopen(target.path.c_str(), "a");
    if (!out_) {
      throw std::runtime_error("log.access_log: cannot open " + target.path + ": " + std::strerror(errno));
    }
    owns_file_ = true;
  }
  std::setvbuf(out_, nullptr, _IOLBF, 1 << 16);
}

AccessLog::~AccessLog() {
  if (owns_file_) std::fclose(out_);
}

std::string AccessLog::format_json(const AccessRecord& r, std::string_view time) {
  std::string line;
  line.reserve(256);
  line += "{\"time\":";
  append_json_string(line, time);
  line += ",\"client\":";
  append_json_string(line, r.client);
  line += ",\"method\":";
  append_json_string(line, r.method);
  line += ",\"path\":";
  append_json_string(line, r.target);
  line += ",\"status\":" + std::to_string(r.status);
  line += ",\"cache\":";
  append_json_string(line, cache::header_value(r.cache));
  line += ",\"bytes\":" + std::to_string(r.bytes);
  line += ",\"duration\":" + format_number(r.duration_seconds);
  line += ",\"upstream_time\":";
  line += r.upstream_seconds < 0 ? std::string("null") : format_number(r.upstream_seconds);
  line += ",\"request_id\":";
  append_json_string(line, r.request_id);
  line += ",\"user_agent\":";
  append_json_string(line, r.user_agent);
  line += "}\n";
  return line;
}

std::string AccessLog::format_text(const AccessRecord& r, std::string_view time) {
  std::string line;
  line.reserve(256);
  line.append(or_dash(r.client)).append(" - - [").append(time).append("] \"");
  line.append(r.method).append(" ").append(r.target).append(" HTTP/1.").append(std::to_string(r.version_minor));
  line.append("\" ").append(std::to_string(r.status)).append(" ").append(std::to_string(r.bytes));
  line.append(" \"").append(or_dash(r.referer)).append("\" \"").append(or_dash(r.user_agent)).append("\"");
  line.append(" cache=").append(cache::header_value(r.cache));
  line.append(" time=").append(format_number(r.duration_seconds));
  line.append(" upstream=").append(r.upstream_seconds < 0 ? std::string("-") : format_number(r.upstream_seconds));
  line.append(" id=").append(or_dash(r.request_id)).append("\n");
  return line;
}

void AccessLog::write(const AccessRecord& record) {
  if (!out_) return;
  auto line = json_ ? format_json(record, timestamp(true)) : format_text(record, timestamp(false));
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), out_);
}

}  // namespace relay::proxy
