// Access log formatting. Text lines follow the combined format operators
// already parse, with relay's fields appended, every client-supplied byte
// escaped as nginx does; JSON lines are valid JSON whatever the client sent.
#include "relay/proxy/access_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "relay/util/json.hpp"

namespace relay::proxy {

namespace {
void append_json_string(std::string& out, std::string_view s) { out += json::quote(s); }

// null for a value the request never got to (a refused request's method).
void append_json_string_or_null(std::string& out, std::string_view s) {
  if (s.empty())
    out += "null";
  else
    append_json_string(out, s);
}

// The text format's escaping, nginx's (ngx_http_log_escape): '"', '\\',
// controls and bytes past 0x7e as \xHH, so a client-supplied field can
// neither close its quotes nor forge another field or line.
constexpr auto kEscaped = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[static_cast<std::size_t>(c)] = c == '"' || c == '\\' || c < 0x20 || c > 0x7e;
  return table;
}();

// "%.6f" of a duration in seconds: microseconds in integers. Both to_chars
// for doubles and snprintf cost hundreds of instructions a call, and the
// text log writes one or two of these per line.
char* put_seconds(char* p, double v) {
  // Below 10^4 s, v * 10^6 is off by far less than 10^-3 of a microsecond:
  // only a value that close to a half rounds as printf would not be sure
  // here, and goes the exact (slow) way, as does anything longer.
  const double scaled = v * 1e6;
  const double whole = std::floor(scaled);
  const double fraction = scaled - whole;
  if (!(v >= 0 && v < 1e4) || std::fabs(fraction - 0.5) < 1e-3)
    return std::to_chars(p, p + 32, v, std::chars_format::fixed, 6).ptr;
  const auto micros = static_cast<std::uint64_t>(whole) + (fraction > 0.5 ? 1 : 0);
  p = std::to_chars(p, p + 20, micros / 1000000).ptr;
  *p++ = '.';
  auto digits = micros % 1000000;
  for (int i = 5; i >= 0; --i, digits /= 10) p[i] = static_cast<char>('0' + digits % 10);
  return p + 6;
}

std::string format_number(double v) {
  char buf[40];
  return std::string(buf, put_seconds(buf, v));
}

// Writes a text line into the string's own buffer: room for the longest
// the line can be is made once, then fields are copied in without a
// capacity check each.
class TextLine {
 public:
  TextLine(std::string& out, std::size_t most) : out_(out), start_(out.size()) {
    out_.resize(start_ + most);
    p_ = out_.data() + start_;
  }
  ~TextLine() { out_.resize(static_cast<std::size_t>(p_ - out_.data())); }
  TextLine(const TextLine&) = delete;
  TextLine& operator=(const TextLine&) = delete;

  // At most 4 bytes per byte of s (\xHH).
  static std::size_t most_escaped(std::string_view s) { return s.empty() ? 1 : 4 * s.size(); }

  TextLine& raw(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
    return *this;
  }
  TextLine& put(char c) {
    *p_++ = c;
    return *this;
  }
  TextLine& escaped(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::size_t clean = 0;  // start of the run of bytes that need none, copied at once
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (!kEscaped[c]) continue;
      raw(s.substr(clean, i - clean));
      p_[0] = '\\';
      p_[1] = 'x';
      p_[2] = hex[c >> 4];
      p_[3] = hex[c & 0xf];
      p_ += 4;
      clean = i + 1;
    }
    return raw(s.substr(clean));
  }
  TextLine& escaped_or_dash(std::string_view s) { return s.empty() ? put('-') : escaped(s); }
  TextLine& number(std::uint64_t v) {
    p_ = std::to_chars(p_, p_ + 20, v).ptr;
    return *this;
  }
  TextLine& seconds(double v) {
    p_ = put_seconds(p_, v);
    return *this;
  }

 private:
  std::string& out_;
  std::size_t start_;
  char* p_;
};

// JSON: RFC 3339 in UTC with milliseconds; text: the combined format's
// [day/month/year:hh:mm:ss zone], whose parsers expect whole seconds.
// Written into buf (at least 48 bytes); a view of it.
std::string_view timestamp(bool iso, char* buf) {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  // The seconds' text changes once a second: formatted then, per thread.
  thread_local std::time_t cached_secs = -1;
  thread_local bool cached_iso = false;
  thread_local char cached[48];
  thread_local std::size_t cached_len = 0;
  if (secs != cached_secs || iso != cached_iso) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    cached_len = std::strftime(cached, sizeof cached, iso ? "%Y-%m-%dT%H:%M:%S" : "%d/%b/%Y:%H:%M:%S +0000", &tm);
    cached_secs = secs;
    cached_iso = iso;
  }
  std::memcpy(buf, cached, cached_len);
  std::size_t len = cached_len;
  if (iso) {
    const auto ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
    const char frac[5] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                          static_cast<char>('0' + ms % 10), 'Z'};
    std::memcpy(buf + len, frac, sizeof frac);
    len += sizeof frac;
  }
  return {buf, len};
}

}  // namespace

AccessRecord request_record(const http::Request& req) {
  AccessRecord r;
  r.client = req.client_address;
  r.method = req.method;
  r.target = req.received_target.empty() ? req.target : req.received_target;
  r.protocol = http::protocol_label(req);
  r.request_id = req.request_id;
  r.host = req.headers.get("host").value_or("");
  r.referer = req.headers.get("referer").value_or("");
  r.user_agent = req.headers.get("user-agent").value_or("");
  return r;
}

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

namespace {
// The stream for a target; nullptr for Off. Throws
// std::runtime_error when a log file cannot be opened.
std::FILE* open_target(const config::AccessLogTarget& target) {
  using To = config::AccessLogTarget::To;
  std::FILE* out = nullptr;
  switch (target.to) {
    case To::Off: return nullptr;
    case To::Stdout: out = stdout; break;
    case To::Stderr: out = stderr; break;
    case To::File:
      out = std::fopen(target.path.c_str(), "a");
      if (!out) throw std::runtime_error("log.access_log: cannot open " + target.path + ": " + std::strerror(errno));
      break;
  }
  // A file's batches go out whole at each flush; the standard streams stay
  // line-buffered, as they are shared with what else writes there.
  std::setvbuf(out, nullptr, target.to == To::File ? _IOFBF : _IOLBF, 1 << 16);
  return out;
}
}  // namespace

AccessLog::AccessLog(const config::LogConfig& cfg)
    : writer_(std::make_unique<LogWriter>([this](std::string_view batch) {
        std::lock_guard lock(mutex_);
        if (!out_) return;
        std::fwrite(batch.data(), 1, batch.size(), out_);
        std::fflush(out_);
      })) {
  reconfigure(cfg);
}

AccessLog::~AccessLog() {
  writer_.reset();  // what is buffered goes out first
  if (target_.to == config::AccessLogTarget::To::File) std::fclose(out_);
}

void AccessLog::reconfigure(const config::LogConfig& cfg) {
  std::lock_guard changing(change_mutex_);
  // The new stream first: if it cannot be opened, the old one stays.
  std::FILE* next = cfg.access_log == target_ && out_ ? nullptr : open_target(cfg.access_log);
  writer_->drain();  // lines logged before go where they were headed
  std::lock_guard lock(mutex_);
  json_ = cfg.format == config::LogFormat::Json;
  if (cfg.access_log == target_ && out_) return;
  swap_stream(next, cfg.access_log);
}

bool AccessLog::reopen() {
  std::lock_guard changing(change_mutex_);
  if (target_.to != config::AccessLogTarget::To::File) return false;
  std::FILE* next = open_target(target_);
  writer_->drain();  // lines logged before the rotation belong in the renamed file
  std::lock_guard lock(mutex_);
  swap_stream(next, target_);
  return true;
}

void AccessLog::swap_stream(std::FILE* next, const config::AccessLogTarget& target) {
  std::FILE* old = out_;
  const bool owned = target_.to == config::AccessLogTarget::To::File;
  out_ = next;
  target_ = target;
  if (old && owned) std::fclose(old);
}

std::string AccessLog::format_json(const AccessRecord& r, std::string_view time) {
  std::string line;
  line.reserve(320);
  line += "{\"time\":";
  append_json_string(line, time);
  line += ",\"client\":";
  append_json_string(line, r.client);
  line += ",\"method\":";
  append_json_string_or_null(line, r.method);
  line += ",\"path\":";
  append_json_string_or_null(line, r.target);
  line += ",\"protocol\":";
  append_json_string(line, r.protocol);
  line += ",\"host\":";
  append_json_string(line, r.host);
  line += ",\"status\":" + std::to_string(r.status);
  line += ",\"cache\":";
  append_json_string(line, cache::header_value(r.cache));
  line += ",\"bytes\":" + std::to_string(r.bytes);
  line += ",\"duration\":" + format_number(r.duration_seconds);
  line += ",\"upstream_time\":";
  line += r.upstream_seconds < 0 ? std::string("null") : format_number(r.upstream_seconds);
  line += ",\"request_id\":";
  append_json_string(line, r.request_id);
  line += ",\"referer\":";
  append_json_string(line, r.referer);
  line += ",\"user_agent\":";
  append_json_string(line, r.user_agent);
  line += "}\n";
  return line;
}

std::string AccessLog::format_text(const AccessRecord& r, std::string_view time) {
  std::string line;
  line.reserve(256);
  append_text(line, r, time);
  return line;
}

void AccessLog::append_text(std::string& line, const AccessRecord& r, std::string_view time) {
  const auto cache = cache::header_value(r.cache);
  // The fixed text, two numbers of up to 20 digits and two durations of up
  // to 32 characters fit in 192 bytes.
  const std::size_t most = 192 + time.size() + r.protocol.size() + cache.size() + TextLine::most_escaped(r.client) +
                           TextLine::most_escaped(r.method) + TextLine::most_escaped(r.target) +
                           TextLine::most_escaped(r.referer) + TextLine::most_escaped(r.user_agent) +
                           TextLine::most_escaped(r.request_id);
  TextLine out(line, most);
  out.escaped_or_dash(r.client).raw(" - - [").raw(time).raw("] \"");
  if (r.method.empty()) {
    out.put('-');  // refused before its request line was read
  } else {
    out.escaped(r.method).put(' ').escaped_or_dash(r.target).put(' ').raw(r.protocol);
  }
  out.raw("\" ").number(static_cast<std::uint64_t>(r.status)).put(' ').number(r.bytes);
  out.raw(" \"").escaped_or_dash(r.referer).raw("\" \"").escaped_or_dash(r.user_agent).put('"');
  out.raw(" cache=").raw(cache).raw(" time=").seconds(r.duration_seconds).raw(" upstream=");
  if (r.upstream_seconds < 0) {
    out.put('-');
  } else {
    out.seconds(r.upstream_seconds);
  }
  out.raw(" id=").escaped_or_dash(r.request_id).put('\n');
}

void AccessLog::write(const AccessRecord& record) {
  if (!out_) return;
  // Formatted outside the lock; a reload switching the format in between
  // only changes which format this one line has.
  const bool json = json_;
  char time[48];
  if (json) {
    writer_->add(format_json(record, timestamp(true, time)));
    return;
  }
  // Formatted into a buffer of the thread's, reused line after line.
  thread_local std::string line;
  line.clear();
  append_text(line, record, timestamp(false, time));
  writer_->add(line);
}

}  // namespace relay::proxy
