// Shared-cache storage and freshness rules (RFC 9111 §3, §4.2) and the
// HTTP-date grammar they depend on (RFC 9110 §5.6.7). Every clock reading is
// a parameter so the policy can be tested without sleeping.
#include "relay/cache/freshness.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "relay/cache/cache_control.hpp"
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

template <std::size_t N>
int index_of(const std::array<std::string_view, N>& names, std::string_view s) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    // The grammar is case-sensitive, but a miscased date is unambiguous and
    // rejecting it would only make the response look expired. The same
    // goes for the zone name (see gmt_then_end).
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

bool is_get_or_head(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD";
}

// The response directives relay acts on (RFC 9213 §2.2). `targeted` means
// a targeted field replaced Cache-Control, so Expires is ignored too.
struct Effective {
  bool targeted = false;  // declared first: cc's initializer sets it
  CacheControl cc;
  Effective(const http::Headers& h, const Policy& p)
      : cc(effective_cache_control(h, p.targeted_fields, &targeted)) {}
  bool explicit_freshness(const http::Headers& h) const {
    return cc.s_maxage || cc.max_age || (!targeted && h.contains("Expires"));
  }
};

std::optional<SysTime> date_field(const http::Headers& h, std::string_view name) {
  auto text = h.get(name);
  return text ? parse_http_date(*text) : std::nullopt;
}

// RFC 9110 §15.1: codes that are heuristically cacheable. 206 is listed for
// the lifetime rule, but may_store refuses it (relay stores only complete
// responses, RFC 9111 §3.3).
bool heuristically_cacheable(int status) noexcept {
  switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
      return true;
    default:
      return false;
  }
}

// RFC 9111 §5.2.2.3: the codes whose caching rules relay implements, i.e.
// those for which must-understand lets it ignore no-store.
bool understood_status(int status) noexcept {
  return heuristically_cacheable(status) || status == 302 || status == 303 || status == 307;
}

// RFC 9111 §4.2.2: heuristics apply to a heuristically cacheable status
// and to any response "marked explicitly cacheable (e.g., with a public
// response directive)", whatever its final status (§3: public makes it
// storable too).
bool heuristic_allowed(int status, const CacheControl& cc) noexcept {
  return heuristically_cacheable(status) || cc.is_public;
}

// RFC 9111 §4.2.2: 10% of Date - Last-Modified, the classic heuristic.
// Only when both parse and Last-Modified is strictly earlier: a
// modification time at or after Date tells nothing about stability.
std::optional<Seconds> heuristic_lifetime(const http::Headers& h, int status, const CacheControl& cc) {
  if (!heuristic_allowed(status, cc)) return std::nullopt;
  auto lm = date_field(h, "Last-Modified");
  auto date = date_field(h, "Date");
  if (!lm || !date || *lm >= *date) return std::nullopt;
  return seconds_between(*lm, *date) / 10;
}

bool is_set_cookie(std::string_view name) noexcept {
  return http::iequals(name, "Set-Cookie") || http::iequals(name, "Set-Cookie2");
}

bool has_set_cookie(const http::Headers& h) {
  return std::any_of(h.begin(), h.end(), [](const http::Field& f) { return is_set_cookie(f.name); });
}

Seconds non_negative(Seconds s) noexcept { return std::max(s, Seconds{0}); }

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

bool request_may_use_cache(std::string_view method, const http::Headers& request_headers) {
  // Pragma: no-cache is deliberately not consulted: it asks for revalidation
  // (RFC 9111 §5.4), not for bypassing storage.
  return is_get_or_head(method) && !parse_cache_control(request_headers).no_store;
}

std::string_view to_string(StoreDecision d) noexcept {
  switch (d) {
    case StoreDecision::Store: return "store";
    case StoreDecision::NotCacheableMethod: return "method";
    case StoreDecision::NotCacheableStatus: return "status";
    case StoreDecision::NoStore: return "no-store";
    case StoreDecision::Private: return "private";
    case StoreDecision::Authorization: return "authorization";
    case StoreDecision::NoFreshness: return "no-freshness";
    case StoreDecision::TooLarge: return "too-large";
    case StoreDecision::VaryStar: return "vary-star";
    case StoreDecision::SetCookie: return "set-cookie";
    case StoreDecision::Cookie: return "cookie";
  }
  return "unknown";
}

StoreDecision may_store(std::string_view method, const http::Headers& request_headers, int status,
                        const http::Headers& response_headers, const Policy& policy) {
  // RFC 9111 §3: the method must be understood and cacheable.
  if (!is_get_or_head(method)) return StoreDecision::NotCacheableMethod;

  const CacheControl req = parse_cache_control(request_headers);
  const Effective eff(response_headers, policy);
  const CacheControl& res = eff.cc;
  // §5.2.1.5: request no-store always forbids storage.
  if (req.no_store) return StoreDecision::NoStore;
  // §5.2.2.3: must-understand means "store only if you implement this
  // status code's caching rules", and then overrides no-store (§5.2.2.5).
  if (res.must_understand && !understood_status(status)) return StoreDecision::NotCacheableStatus;
  if (res.no_store && !res.must_understand) return StoreDecision::NoStore;
  // §5.2.2.7: a shared cache must not store private responses. The
  // field-list form only restricts those fields (see storable_fields).
  if (res.is_private) return StoreDecision::Private;
  // §3.5: authenticated responses only with explicit shared-cache consent.
  if (request_headers.contains("Authorization") && !res.is_public && !res.s_maxage &&
      !res.must_revalidate) {
    return StoreDecision::Authorization;
  }

  // §3: final responses only. 206 needs range bookkeeping we do not do;
  // 304 updates a stored response (§4.3.4) and must never become one.
  if (status < 200 || status > 599 || status == 206 || status == 304) {
    return StoreDecision::NotCacheableStatus;
  }
  const bool explicit_fresh = eff.explicit_freshness(response_headers);
  // Other codes are storable only when the origin said for how long or
  // marked them public; a rule ttl does not make error responses cacheable.
  if (!heuristic_allowed(status, res) && !explicit_fresh) {
    return StoreDecision::NotCacheableStatus;
  }
  // §4.1: "Vary: *" never matches a later request, so storing is waste.
  if (response_headers.has_token("Vary", "*")) return StoreDecision::VaryStar;

  // A shared cache replaying one user's Set-Cookie to everyone leaks a
  // session; RFC 9111 §7.1 permits storing it, so only an explicit opt-in
  // does, and never on a lifetime relay guessed.
  const bool operator_ttl = policy.ttl_override.has_value();
  if (has_set_cookie(response_headers)) {
    if (policy.set_cookie == SetCookiePolicy::Pass) return StoreDecision::SetCookie;
    if (policy.set_cookie == SetCookiePolicy::Store && !explicit_fresh && !operator_ttl) {
      return StoreDecision::SetCookie;
    }
  }
  // A response to a request with Cookie may be personalised; only the
  // origin (public, s-maxage, max-age, Expires) or the operator (a rule
  // ttl) can say it is not, so no heuristic or default lifetime applies.
  if (request_headers.contains("Cookie") && !explicit_fresh && !res.is_public && !operator_ttl) {
    return StoreDecision::Cookie;
  }

  if (policy.max_object_size > 0) {
    auto len = http::content_length(response_headers);
    if (len && *len > policy.max_object_size) return StoreDecision::TooLarge;
  }
  // §4.2.2: heuristic freshness is freshness, even when it rounds to 0 (the
  // stored copy still carries a validator worth revalidating).
  if (!explicit_fresh && !policy.ttl_override && policy.default_ttl <= Seconds{0} &&
      !heuristic_lifetime(response_headers, status, res)) {
    return StoreDecision::NoFreshness;
  }
  return StoreDecision::Store;
}

http::Headers storable_fields(const http::Headers& response_headers, const Policy& policy) {
  const Effective eff(response_headers, policy);
  auto listed = [](const std::vector<std::string>& list, std::string_view name) {
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& n) { return http::iequals(n, name); });
  };
  http::Headers out;
  for (const auto& f : response_headers) {
    // The directives themselves are kept: dropping them would silently
    // change how the stored copy is treated.
    const bool directive_field =
        http::iequals(f.name, "Cache-Control") || listed(policy.targeted_fields, f.name);
    if (!directive_field &&
        (listed(eff.cc.no_cache_fields, f.name) || listed(eff.cc.private_fields, f.name))) {
      continue;
    }
    if (policy.set_cookie != SetCookiePolicy::Store && is_set_cookie(f.name)) continue;
    out.add(f.name, f.value);
  }
  return out;
}

Seconds freshness_lifetime(const http::Headers& response_headers, const Policy& policy,
                           int status) {
  // A rule's ttl is the operator overriding the origin on purpose.
  if (policy.ttl_override) return non_negative(*policy.ttl_override);
  // §4.2.1: first match wins; a shared cache prefers s-maxage.
  const Effective eff(response_headers, policy);
  if (eff.cc.s_maxage) return Seconds{*eff.cc.s_maxage};
  if (eff.cc.max_age) return Seconds{*eff.cc.max_age};
  // RFC 9213 §2.2: a targeted field in use overrides Expires as well.
  auto expires = eff.targeted ? std::nullopt : response_headers.get("Expires");
  if (expires) {
    // §5.3: an invalid Expires (e.g. "0") means already expired. Date is
    // added at receipt when the origin omitted it (§4.2.3 assumes one), so a
    // missing Date is treated like an invalid Expires: stale.
    auto exp = parse_http_date(*expires);
    auto date = date_field(response_headers, "Date");
    if (!exp || !date) return Seconds{0};
    return non_negative(seconds_between(*date, *exp));
  }
  if (auto h = heuristic_lifetime(response_headers, status, eff.cc)) {
    return std::min(*h, non_negative(policy.heuristic_max));
  }
  return non_negative(policy.default_ttl);
}

Seconds freshness_lifetime(const http::Headers& response_headers, const Policy& policy) {
  // 200 stands for "a status may_store accepted": any other code was stored
  // only with explicit freshness, decided before the heuristic, or with
  // public, which allows the heuristic for every status.
  return freshness_lifetime(response_headers, policy, 200);
}

Seconds current_age(const http::Headers& response_headers, SysTime request_time,
                    SysTime response_time, SysTime now) {
  // §4.2.3, with every intermediate clamped at zero so clock skew between
  // us and the origin can only make a response look younger, never negative.
  Seconds apparent_age{0};
  if (auto date_text = response_headers.get("Date")) {
    if (auto date = parse_http_date(*date_text, now)) {
      apparent_age = non_negative(seconds_between(*date, response_time));
    }
  }

  // The first valid delta-seconds among the Age lines; junk counts as 0.
  std::optional<std::int64_t> age_value;
  for (const auto& f : response_headers) {
    if (age_value || !http::iequals(f.name, "Age")) continue;
    http::for_each_list_element(f.value, [&](std::string_view v) {
      if (!age_value) age_value = parse_delta_seconds(v);
    });
  }

  const Seconds response_delay = non_negative(seconds_between(request_time, response_time));
  const Seconds corrected_age_value = Seconds{age_value.value_or(0)} + response_delay;
  const Seconds corrected_initial_age = std::max(apparent_age, corrected_age_value);
  const Seconds resident_time = non_negative(seconds_between(response_time, now));
  return corrected_initial_age + resident_time;
}

bool is_fresh(const http::Headers& response_headers, const Policy& policy, SysTime request_time,
              SysTime response_time, SysTime now) {
  return freshness_lifetime(response_headers, policy) >
         current_age(response_headers, request_time, response_time, now);
}

bool needs_validation(const http::Headers& request_headers, const http::Headers& response_headers,
                      Seconds age, const Policy& policy) {
  if (Effective(response_headers, policy).cc.no_cache) return true;
  if (!request_headers.contains("cache-control")) {
    return request_headers.has_token("pragma", "no-cache");
  }
  auto req = parse_cache_control(request_headers);
  // max-age=0 is how clients ask for a reload: treat it as no-cache.
  return req.no_cache || (req.max_age && (*req.max_age == 0 || age.count() > *req.max_age));
}

}  // namespace relay::cache
