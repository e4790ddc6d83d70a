// The HTTP-date grammar (RFC 9110 §5.6.7) and the Date a response must
// carry (§6.6.1). Every clock reading is a parameter, so two-digit years
// resolve the same way in tests as in production.
#include <array>
#include <cstdint>
#include <cstdio>

#include "relay/cache/freshness.hpp"
#include "relay/util/time.hpp"

namespace relay::cache {

namespace chr = std::chrono;

namespace {

constexpr std::array<std::string_view, 7> kDayShort = {"Mon", "Tue", "Wed", "Thu",
                                                       "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kDayLong = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr",
                                                      "May", "Jun", "Jul", "Aug",
                                                      "Sep", "Oct", "Nov", "Dec"};

// The grammar is case-sensitive, but a miscased date is unambiguous and
// rejecting it would only make the response look expired. The same goes for
// the zone name (see gmt_then_end). Three-letter names compare as one
// lower-cased number: every cached response's dates are parsed on each hit.
constexpr std::uint32_t code3(std::string_view s) noexcept {
  auto lower = [](char c) { return static_cast<std::uint32_t>(static_cast<unsigned char>(c) | 0x20); };
  return lower(s[0]) << 16 | lower(s[1]) << 8 | lower(s[2]);
}

template <std::size_t N>
int index_of(const std::array<std::string_view, N>& names, std::string_view s) noexcept {
  if (s.size() == 3 && names[0].size() == 3) {
    const auto code = code3(s);
    for (std::size_t i = 0; i < N; ++i) {
      if (code3(names[i]) == code) return static_cast<int>(i);
    }
    return -1;
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (http::iequals(names[i], s)) return static_cast<int>(i);
  }
  return -1;
}

// A hand-written scanner instead of strptime: strptime's month and day
// names follow LC_TIME, while HTTP-dates are always English.
struct Scanner {
  std::string_view s;
  std::size_t i = 0;

  bool done() const noexcept { return i == s.size(); }
  bool eat(char c) noexcept {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // Exactly one SP: the grammar has no runs of whitespace, and a date with
  // them is not an HTTP-date (RFC 9110 §5.6.7), however readable.
  bool sp() noexcept { return eat(' '); }
  std::string_view word() noexcept {
    std::size_t start = i;
    while (i < s.size() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
    return s.substr(start, i - start);
  }
  // Between min_n and max_n digits.
  std::optional<int> number(std::size_t min_n, std::size_t max_n) noexcept {
    std::size_t start = i;
    int v = 0;
    while (i < s.size() && i - start < max_n && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i] - '0');
      ++i;
    }
    if (i - start < min_n) return std::nullopt;
    return v;
  }
  std::optional<int> month() noexcept {
    int m = index_of(kMonths, word());
    if (m < 0) return std::nullopt;
    return m + 1;
  }
};

struct TimeOfDay {
  int h, m, s;
};

std::optional<TimeOfDay> time_of_day(Scanner& sc) noexcept {
  auto h = sc.number(2, 2);
  if (!h || !sc.eat(':')) return std::nullopt;
  auto m = sc.number(2, 2);
  if (!m || !sc.eat(':')) return std::nullopt;
  auto s = sc.number(2, 2);
  // 60 is allowed for a leap second (RFC 9110 §5.6.7).
  if (!s || *h > 23 || *m > 59 || *s > 60) return std::nullopt;
  return TimeOfDay{*h, *m, *s};
}

// Computed in whole seconds, which reach any four-digit year, then clamped
// to what SysTime holds (years 1677 to 2262): an Expires in 9999 is the
// farthest future relay can express, not a date in the past.
std::optional<SysTime> make_time(int y, int mon, int d, TimeOfDay t) noexcept {
  chr::year_month_day ymd{chr::year{y}, chr::month{static_cast<unsigned>(mon)},
                          chr::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return to_sys_time(chr::sys_seconds{chr::sys_days{ymd}} + chr::hours{t.h} + chr::minutes{t.m} +
                     chr::seconds{t.s});
}

bool gmt_then_end(Scanner& sc) noexcept {
  return sc.sp() && http::iequals(sc.word(), "GMT") && sc.done();
}

// IMF-fixdate after "Sun, ": "06 Nov 1994 08:49:37 GMT".
std::optional<SysTime> imf_fixdate(Scanner& sc) noexcept {
  auto d = sc.number(2, 2);
  if (!d || !sc.sp()) return std::nullopt;
  auto mon = sc.month();
  if (!mon || !sc.sp()) return std::nullopt;
  auto y = sc.number(4, 4);
  if (!y || !sc.sp()) return std::nullopt;
  auto t = time_of_day(sc);
  if (!t || !gmt_then_end(sc)) return std::nullopt;
  return make_time(*y, *mon, *d, *t);
}

// rfc850-date after "Sunday, ": "06-Nov-94 08:49:37 GMT".
std::optional<SysTime> rfc850_date(Scanner& sc, SysTime now) noexcept {
  auto d = sc.number(2, 2);
  if (!d || !sc.eat('-')) return std::nullopt;
  auto mon = sc.month();
  if (!mon || !sc.eat('-')) return std::nullopt;
  auto yy = sc.number(2, 2);
  if (!yy || !sc.sp()) return std::nullopt;
  auto t = time_of_day(sc);
  if (!t || !gmt_then_end(sc)) return std::nullopt;
  // RFC 9110 §5.6.7: a two-digit year that would put the date more than 50
  // years in the future means the most recent past year with those digits.
  int now_year = static_cast<int>(chr::year_month_day{chr::floor<chr::days>(now)}.year());
  int y = now_year / 100 * 100 + *yy + 100;
  const SysTime limit = saturating_add(now, chr::duration_cast<Seconds>(chr::years{50}));
  for (; y >= 0; y -= 100) {
    auto when = make_time(y, *mon, *d, *t);
    if (!when) return std::nullopt;
    if (*when <= limit) return when;
  }
  return std::nullopt;
}

// asctime-date after "Sun ": "Nov  6 08:49:37 1994".
std::optional<SysTime> asctime_date(Scanner& sc) noexcept {
  auto mon = sc.month();
  if (!mon || !sc.sp()) return std::nullopt;
  // date3 = month SP ( 2DIGIT / ( SP DIGIT ) ): the day's padding is the
  // one place where two spaces are right.
  auto d = sc.sp() ? sc.number(1, 1) : sc.number(2, 2);
  if (!d || !sc.sp()) return std::nullopt;
  auto t = time_of_day(sc);
  if (!t || !sc.sp()) return std::nullopt;
  auto y = sc.number(4, 4);
  if (!y || !sc.done()) return std::nullopt;
  return make_time(*y, *mon, *d, *t);
}

}  // namespace

std::optional<SysTime> parse_http_date(std::string_view text, SysTime now) noexcept {
  Scanner sc{http::trim(text)};
  auto name = sc.word();
  if (sc.eat(',')) {
    if (!sc.sp()) return std::nullopt;
    if (index_of(kDayShort, name) >= 0) return imf_fixdate(sc);
    if (index_of(kDayLong, name) >= 0) return rfc850_date(sc, now);
    return std::nullopt;
  }
  if (index_of(kDayShort, name) >= 0 && sc.sp()) return asctime_date(sc);
  return std::nullopt;
}

std::optional<SysTime> parse_http_date(std::string_view text) noexcept {
  return parse_http_date(text, chr::system_clock::now());
}

std::string format_http_date(SysTime t) {
  auto secs = chr::floor<chr::seconds>(t);
  auto day = chr::floor<chr::days>(secs);
  chr::year_month_day ymd{day};
  chr::hh_mm_ss hms{secs - day};
  // weekday: 0 = Sunday; kDayShort starts on Monday.
  unsigned wd = chr::weekday{day}.c_encoding();
  std::string_view wname = kDayShort[(wd + 6) % 7];
  std::string_view mname = kMonths[static_cast<unsigned>(ymd.month()) - 1];
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.3s, %02u %.3s %04d %02d:%02d:%02d GMT", wname.data(),
                static_cast<unsigned>(ymd.day()), mname.data(), static_cast<int>(ymd.year()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

void stamp_date(http::Headers& response_headers, SysTime received) {
  auto date = response_headers.get_combined("Date");
  if (date && parse_http_date(*date, received)) return;
  response_headers.set("Date", format_http_date(received));
}

}  // namespace relay::cache
