// Access log formatting. JSON strings are escaped; text lines follow the
// combined format operators already parse, with relay's fields appended.
#include "relay/proxy/access_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace relay::proxy {

namespace {
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

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

std::string access_log_problem(const config::AccessLogTarget& target) {
  if (target.to != config::AccessLogTarget::To::File) return {};
  const std::string& path = target.path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return "cannot open " + path + ": it is a directory";
    if (S_ISFIFO(st.st_mode)) return {};  // opening one waits for its reader: not here
    // O_APPEND without O_CREAT or O_TRUNC: the file is left as it is.
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return "cannot open " + path + " for appending: " + std::strerror(errno);
    ::close(fd);
    return {};
  }
  if (errno != ENOENT) return "cannot open " + path + ": " + std::strerror(errno);
  // Missing: fopen(.., "a") at start creates it, which needs a writable directory.
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::stat(dir.c_str(), &st) != 0) return "cannot create " + path + ": " + dir + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "cannot create " + path + ": " + dir + " is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return "cannot create " + path + " in " + dir + ": " + std::strerror(errno);
  return {};
}

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
