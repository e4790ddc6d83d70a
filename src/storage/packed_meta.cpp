// pack_meta / unpack_meta (packed_meta.hpp).
//
// Layout: flags, status, kind, encoding, the response time (8 bytes) and
// the request time before it (a varint), keep_for, body_size, the reason
// unless it is the status's usual one, the fields, then the optional parts
// the flags announce (raw size, pending writer, stale mark, Vary index,
// tags). Strings are a varint length and the bytes. A field is a name (a
// byte: 1.. a well-known name, 0 a written-out one) and a value (a varint
// tag: a packed date or an interned value, their number following, or n
// bytes).
#include "relay/storage/packed_meta.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "relay/http/headers.hpp"
#include "relay/http/response.hpp"
#include "relay/util/string_stash.hpp"

namespace relay::storage {
namespace {

// Response fields common enough to be worth a byte. Order is the id, so
// append only (ids live only in memory, but tests pin a few).
constexpr std::array<std::string_view, 56> well_known_names{
    "Date", "Server", "Content-Type", "Content-Length", "Content-Encoding", "Content-Language",
    "Content-Location", "Content-Disposition", "Content-Range", "Cache-Control", "Expires", "Last-Modified",
    "ETag", "Vary", "Age", "Accept-Ranges", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
    "Access-Control-Expose-Headers", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
    "Access-Control-Max-Age", "Link", "Location", "Pragma", "Strict-Transport-Security",
    "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection", "Referrer-Policy",
    "Content-Security-Policy", "Timing-Allow-Origin", "Surrogate-Key", "Surrogate-Control", "Cache-Tag",
    "Set-Cookie", "Via", "Alt-Svc", "Permissions-Policy", "Cross-Origin-Resource-Policy",
    "Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy", "X-Powered-By", "Retry-After",
    "WWW-Authenticate", "P3P", "X-Cache", "X-Request-Id", "Report-To", "NEL", "Server-Timing",
    "X-Robots-Tag", "CDN-Cache-Control", "Content-Digest", "Repr-Digest", "Keep-Alive"};

// Ids 1..N are the names as listed, N+1..2N the same names in lower case
// (what HTTP/2 origins and many frameworks send).
constexpr std::size_t known = well_known_names.size();
static_assert(2 * known < 256);

const std::array<std::string, known>& lower_names() {
  static const auto names = [] {
    std::array<std::string, known> out;
    for (std::size_t i = 0; i < known; ++i) {
      out[i] = std::string(well_known_names[i]);
      for (auto& c : out[i]) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return out;
  }();
  return names;
}

std::uint8_t name_id(std::string_view name) noexcept {
  for (std::size_t i = 0; i < known; ++i) {
    if (well_known_names[i] == name) return static_cast<std::uint8_t>(i + 1);
    if (lower_names()[i] == name) return static_cast<std::uint8_t>(known + i + 1);
  }
  return 0;
}

// Fields whose values repeat across responses (one Server, a few content
// types and Cache-Control policies per site): their values are interned,
// an entry holding the table's index instead of the bytes.
bool value_repeats(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 30> names{
      "server", "content-type", "content-encoding", "content-language", "cache-control", "vary", "accept-ranges",
      "access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers",
      "access-control-allow-methods", "access-control-allow-headers", "access-control-max-age", "pragma",
      "strict-transport-security", "x-content-type-options", "x-frame-options", "x-xss-protection",
      "referrer-policy", "content-security-policy", "timing-allow-origin", "surrogate-control", "via", "alt-svc",
      "permissions-policy", "cross-origin-resource-policy", "cross-origin-opener-policy",
      "cross-origin-embedder-policy", "x-powered-by", "cdn-cache-control"};
  for (auto n : names) {
    if (http::iequals(n, name)) return true;
  }
  return false;
}

// Interned values, process-wide and never freed: at most `capacity` of at
// most `longest` bytes (256 KiB in all), so an origin sending a new value
// each time fills it once and then has its values written out. Slots are
// written once, under the mutex, before their index is published; readers
// see an index only through an entry published after that, so they read
// without the lock.
class ValueTable {
 public:
  static constexpr std::size_t capacity = 4096;
  static constexpr std::size_t longest = 64;

  static ValueTable& instance() {
    static ValueTable table;
    return table;
  }

  // The value's index, interning it if there is room.
  std::optional<std::uint32_t> find_or_add(std::string_view value) {
    if (value.size() > longest) return std::nullopt;
    std::lock_guard lock(mutex_);
    if (auto it = ids_.find(value); it != ids_.end()) return it->second;
    const auto id = size_.load(std::memory_order_relaxed);
    if (id == capacity) return std::nullopt;
    slots_[id] = std::string(value);
    ids_.emplace(slots_[id], id);
    size_.store(id + 1, std::memory_order_release);
    return id;
  }
  const std::string& at(std::uint32_t id) const noexcept { return slots_[id]; }

 private:
  ValueTable() : slots_(std::make_unique<std::string[]>(capacity)) {}

  std::mutex mutex_;
  std::unique_ptr<std::string[]> slots_;
  std::atomic<std::uint32_t> size_{0};
  std::unordered_map<std::string_view, std::uint32_t> ids_;  // views of slots_
};

std::string_view name_of(std::uint8_t id) noexcept {
  return id <= known ? well_known_names[id - 1] : std::string_view(lower_names()[id - known - 1]);
}

// ---------------------------------------------------------------- dates

constexpr std::array<std::string_view, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::size_t fixdate_size = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

using Fixdate = std::array<char, fixdate_size>;

// By hand, not snprintf: every hit on a stored response formats its dates.
Fixdate format_fixdate(std::int64_t seconds) {
  using namespace std::chrono;
  const auto day = floor<days>(sys_seconds{std::chrono::seconds{seconds}});
  const year_month_day ymd{day};
  const auto in_day = static_cast<unsigned>(seconds - duration_cast<std::chrono::seconds>(day.time_since_epoch()).count());
  Fixdate out;
  std::memcpy(out.data(), "Www, DD Mon YYYY HH:MM:SS GMT", fixdate_size);
  auto two = [&](std::size_t at, unsigned v) {
    out[at] = static_cast<char>('0' + v / 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  std::memcpy(out.data(), weekdays[weekday{day}.c_encoding()].data(), 3);
  two(5, static_cast<unsigned>(ymd.day()));
  std::memcpy(out.data() + 8, months[static_cast<unsigned>(ymd.month()) - 1].data(), 3);
  const auto year = static_cast<unsigned>(static_cast<int>(ymd.year()));
  two(12, year / 100);
  two(14, year % 100);
  two(17, in_day / 3600);
  two(20, in_day / 60 % 60);
  two(23, in_day % 60);
  return out;
}

std::string_view view(const Fixdate& date) noexcept { return {date.data(), date.size()}; }

int digits(std::string_view s) noexcept {
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// Seconds since the epoch of a date in exactly the form format_fixdate
// writes, so that formatting them gives the same bytes back; nullopt for
// anything else (other forms, bad weekdays, impossible dates).
std::optional<std::int64_t> packable_date(std::string_view s) {
  if (s.size() != fixdate_size || !s.ends_with(" GMT") || s[3] != ',') return std::nullopt;
  const int day = digits(s.substr(5, 2)), year = digits(s.substr(12, 4));
  const int hour = digits(s.substr(17, 2)), minute = digits(s.substr(20, 2)), second = digits(s.substr(23, 2));
  std::size_t month = 0;
  while (month < months.size() && months[month] != s.substr(8, 3)) ++month;
  if (day < 1 || year < 1000 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 ||
      month == months.size()) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month + 1)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  const std::int64_t secs = duration_cast<std::chrono::seconds>(sys_days{ymd}.time_since_epoch()).count() +
                            hour * 3600 + minute * 60 + second;
  if (view(format_fixdate(secs)) != s) return std::nullopt;  // the weekday, the spacing
  return secs;
}

// ------------------------------------------------------------- writing

enum Flag : std::uint8_t {
  has_raw_size = 1,
  has_pending_writer = 2,
  has_stale_at = 4,
  has_vary = 8,
  has_tags = 16,
  standard_reason = 32,  // the reason is reason_phrase(status): not written
};

// A field value's tag: a packed date, an interned value, or n bytes (n + 2).
constexpr std::uint64_t date_value = 0;
constexpr std::uint64_t interned_value = 1;
constexpr std::uint64_t literal_value = 2;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
std::uint64_t zigzag(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}
void put_time(std::string& out, SysTime t) {
  const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  char raw[sizeof ns];
  std::memcpy(raw, &ns, sizeof ns);
  out.append(raw, sizeof raw);
}

// ------------------------------------------------------------- reading

struct Reader {
  const char* at;

  std::uint8_t byte() noexcept { return static_cast<std::uint8_t>(*at++); }
  std::uint64_t varint() noexcept {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto b = byte();
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  std::string_view view(std::size_t n) noexcept {
    std::string_view s(at, n);
    at += n;
    return s;
  }
  std::string_view view() noexcept { return view(static_cast<std::size_t>(varint())); }
  std::string string() { return std::string(view()); }
  // In a recycled buffer: strings a hit unpacks and drops (util/string_stash.hpp).
  std::string recycled() {
    auto s = util::recycled_string();
    s.append(view());
    return s;
  }
  SysTime time() noexcept {
    std::int64_t ns = 0;
    std::memcpy(&ns, at, sizeof ns);
    at += sizeof ns;
    return SysTime{std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds{ns})};
  }
};
std::int64_t unzigzag(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

}  // namespace

void pack_meta(const EntryMeta& meta, std::string& out) {
  const auto& in = meta.internal;
  std::uint8_t flags = 0;
  if (in.raw_size) flags |= has_raw_size;
  if (in.pending_writer != 0) flags |= has_pending_writer;
  if (in.stale_at) flags |= has_stale_at;
  if (!in.vary.names.empty() || !in.vary.generation.empty()) flags |= has_vary;
  if (!in.tags.empty()) flags |= has_tags;
  if (meta.reason == http::reason_phrase(meta.status)) flags |= standard_reason;
  out.push_back(static_cast<char>(flags));
  put_varint(out, zigzag(meta.status));
  out.push_back(static_cast<char>(in.kind));
  out.push_back(static_cast<char>(in.encoding));
  // The request went out a moment before the response came: a few bytes.
  put_time(out, meta.response_time);
  put_varint(out, zigzag(std::chrono::duration_cast<std::chrono::nanoseconds>(meta.response_time - meta.request_time).count()));
  put_varint(out, zigzag(meta.keep_for.count()));
  put_varint(out, meta.body_size);
  if (!(flags & standard_reason)) put_string(out, meta.reason);
  put_varint(out, meta.headers.size());
  for (const auto& field : meta.headers) {
    const auto id = name_id(field.name);
    out.push_back(static_cast<char>(id));
    if (id == 0) put_string(out, field.name);
    if (auto date = packable_date(field.value)) {
      put_varint(out, date_value);
      put_varint(out, zigzag(*date));
    } else if (auto interned = value_repeats(field.name) ? ValueTable::instance().find_or_add(field.value)
                                                         : std::nullopt) {
      put_varint(out, interned_value);
      put_varint(out, *interned);
    } else {
      put_varint(out, field.value.size() + literal_value);
      out.append(field.value);
    }
  }
  if (in.raw_size) put_varint(out, *in.raw_size);
  if (in.pending_writer != 0) put_varint(out, in.pending_writer);
  if (in.stale_at) put_time(out, *in.stale_at);
  if (flags & has_vary) {
    put_string(out, in.vary.names);
    put_string(out, in.vary.generation);
  }
  if (flags & has_tags) {
    put_varint(out, in.tags.size());
    for (const auto& tag : in.tags) put_string(out, tag);
  }
}

EntryMeta unpack_meta(std::span<const char> bytes) {
  Reader r{bytes.data()};
  EntryMeta meta;
  auto& in = meta.internal;
  const auto flags = r.byte();
  meta.status = static_cast<int>(unzigzag(r.varint()));
  in.kind = static_cast<EntryKind>(r.byte());
  in.encoding = static_cast<BodyEncoding>(r.byte());
  meta.response_time = r.time();
  meta.request_time = meta.response_time - std::chrono::duration_cast<SysTime::duration>(
                                                std::chrono::nanoseconds{unzigzag(r.varint())});
  meta.keep_for = std::chrono::seconds{unzigzag(r.varint())};
  meta.body_size = r.varint();
  meta.reason = flags & standard_reason ? std::string(http::reason_phrase(meta.status)) : r.string();
  const auto fields = static_cast<std::size_t>(r.varint());
  // Room for what a hit adds (Age, Via, X-Cache, Cache-Status, X-Request-ID,
  // framing): growing the vector then would move every field.
  meta.headers.reserve(fields + 8);
  // Copied in, not moved: the fields' buffers are recycled (http::Headers).
  for (std::size_t i = 0; i < fields; ++i) {
    const auto id = r.byte();
    const std::string_view name = id == 0 ? r.view() : name_of(id);
    const auto tag = r.varint();
    if (tag == date_value) {
      meta.headers.add_copy(name, view(format_fixdate(unzigzag(r.varint()))));
    } else if (tag == interned_value) {
      meta.headers.add_copy(name, ValueTable::instance().at(static_cast<std::uint32_t>(r.varint())));
    } else {
      meta.headers.add_copy(name, r.view(static_cast<std::size_t>(tag - literal_value)));
    }
  }
  if (flags & has_raw_size) in.raw_size = r.varint();
  if (flags & has_pending_writer) in.pending_writer = r.varint();
  if (flags & has_stale_at) in.stale_at = r.time();
  if (flags & has_vary) {
    in.vary.names = r.recycled();
    in.vary.generation = r.recycled();
  }
  if (flags & has_tags) {
    const auto count = static_cast<std::size_t>(r.varint());
    in.tags = util::recycled_strings();
    in.tags.reserve(count);
    for (std::size_t i = 0; i < count; ++i) in.tags.push_back(r.recycled());
  }
  return meta;
}

}  // namespace relay::storage
