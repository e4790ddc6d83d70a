// Shared-cache storage and freshness policy. Every clock value is injected,
// so these tests are exact and never sleep. Heuristic and rule-ttl lifetimes
// are in test_policy.cpp, targeted fields in test_cache_control.cpp.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "fixed_clock.hpp"
#include "header_pairs.hpp"
#include "relay/cache/freshness.hpp"

using namespace std::chrono_literals;
using relay::cache::Policy;
using relay::cache::Seconds;
using relay::cache::StoreDecision;
using relay::cache::SysTime;
using relay::http::Headers;

namespace {

using relay::test::make_headers;
using relay::test::Pairs;

SysTime at(std::int64_t unix_seconds) { return SysTime{Seconds{unix_seconds}}; }

// 2024-01-15 12:00:00 UTC: a fixed "now" for every test; kDate is its
// HTTP-date, kLm5d five days earlier.
using relay::test::kDate;
using relay::test::kLm5d;
using relay::test::kNow;
// 1994-11-06 08:49:37 UTC, the RFC 9110 example date.
constexpr std::int64_t kRfcExample = 784111777;

}  // namespace

TEST_CASE("freshness: HTTP-date in all three formats (RFC 9110 5.6.7)") {
  struct Row {
    const char* text;
    std::optional<std::int64_t> unix;
  };
  const Row rows[] = {
      {"Sun, 06 Nov 1994 08:49:37 GMT", kRfcExample},   // IMF-fixdate
      {"Sunday, 06-Nov-94 08:49:37 GMT", kRfcExample},  // rfc850-date
      {"Sun Nov  6 08:49:37 1994", kRfcExample},        // asctime-date
      {"Sun Nov 06 08:49:37 1994", kRfcExample},
      {"  Sun, 06 Nov 1994 08:49:37 GMT ", kRfcExample},
      {"sun, 06 nov 1994 08:49:37 GMT", kRfcExample},
      {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
      {"Thu, 29 Feb 2024 23:59:59 GMT", 1709251199},
      {"Wed, 31 Dec 2008 23:59:60 GMT", 1230768000},  // leap second
      {"", std::nullopt},
      {"0", std::nullopt},
      {"-1", std::nullopt},
      {"garbage", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37 GMT x", std::nullopt},
      {"Sun, 6 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov 94 08:49:37 GMT", std::nullopt},
      {"Sun, 31 Feb 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 24:00:00 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:60:00 GMT", std::nullopt},
      {"Sun, 06 Foo 1994 08:49:37 GMT", std::nullopt},
      {"Sunday, 06 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06-Nov-94 08:49:37 GMT", std::nullopt},
      {"Sun Nov  6 08:49:37 94", std::nullopt},
      {"Funday, 06-Nov-94 08:49:37 GMT", std::nullopt},
      {"2024-01-15T12:00:00Z", std::nullopt},
      // The zone name is matched like day and month names: case-insensitively.
      {"Sun, 06 Nov 1994 08:49:37 gmt", kRfcExample},
      {"Sunday, 06-Nov-94 08:49:37 Gmt", kRfcExample},
      // The grammar has exactly one SP between parts; runs are invalid.
      {"Sun,  06 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06  Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov  1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov 1994  08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37  GMT", std::nullopt},
      {"Sunday,  06-Nov-94 08:49:37 GMT", std::nullopt},
      {"Sunday, 06-Nov-94  08:49:37 GMT", std::nullopt},
      {"Sun  Nov  6 08:49:37 1994", std::nullopt},
      {"Sun Nov   6 08:49:37 1994", std::nullopt},
      {"Sun Nov  06 08:49:37 1994", std::nullopt},  // SP DIGIT, or 2DIGIT, not both
      {"Sun Nov 6 08:49:37 1994", std::nullopt},
      {"Sun Nov  6  08:49:37 1994", std::nullopt},
      {"Sun Nov  6 08:49:37  1994", std::nullopt},
      {"Sun,\t06 Nov 1994 08:49:37 GMT", std::nullopt},
  };
  for (const auto& r : rows) {
    const std::string label = r.text;
    CAPTURE(label);
    auto t = relay::cache::parse_http_date(r.text, kNow);
    REQUIRE(t.has_value() == r.unix.has_value());
    if (t) CHECK(*t == at(*r.unix));
  }
}

TEST_CASE("freshness: rfc850 two-digit years, >50 years ahead means past (RFC 9110 5.6.7)") {
  using std::chrono::sys_days;
  using std::chrono::year;
  struct Row {
    const char* text;
    SysTime now;
    int expected_year;
  };
  const SysTime now2099 = SysTime{sys_days{year{2099} / 6 / 1}};
  const Row rows[] = {
      {"Monday, 01-Jan-24 00:00:00 GMT", kNow, 2024},
      {"Monday, 01-Jan-30 00:00:00 GMT", kNow, 2030},
      {"Monday, 01-Jan-74 00:00:00 GMT", kNow, 2074},  // 49.9 years ahead
      {"Monday, 01-Feb-74 00:00:00 GMT", kNow, 1974},  // just over 50
      {"Monday, 01-Jan-99 00:00:00 GMT", kNow, 1999},
      {"Monday, 01-Jan-05 00:00:00 GMT", now2099, 2105},
      {"Monday, 01-Jan-98 00:00:00 GMT", now2099, 2098},
  };
  for (const auto& r : rows) {
    const std::string label = r.text;
    CAPTURE(label);
    auto t = relay::cache::parse_http_date(r.text, r.now);
    REQUIRE(t);
    std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(*t)};
    CHECK(static_cast<int>(ymd.year()) == r.expected_year);
  }
}

TEST_CASE("freshness: dates beyond the clock's range saturate instead of wrapping") {
  // SysTime counts nanoseconds in 64 bits: it ends in April 2262.
  CHECK(relay::cache::parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT", kNow) == SysTime::max());
  CHECK(relay::cache::parse_http_date("Sat, 01 Jan 2300 00:00:00 GMT", kNow) == SysTime::max());
  CHECK(relay::cache::parse_http_date("Sat, 01 Jan 1000 00:00:00 GMT", kNow) == SysTime::min());
  // The last whole second SysTime holds is still exact.
  CHECK(relay::cache::parse_http_date("Fri, 11 Apr 2262 23:47:16 GMT", kNow) == at(9223372036));

  // An Expires past 2262 is a very long lifetime, not a negative one.
  const Headers far = make_headers({{"Date", kDate}, {"Expires", "Sat, 01 Jan 2300 00:00:00 GMT"}});
  const auto lifetime = relay::cache::freshness_lifetime(far, Policy{});
  CHECK(lifetime > Seconds{200LL * 365 * 86400});
  CHECK(relay::cache::is_fresh(far, Policy{}, kNow, kNow, kNow + 24h * 365 * 100));
  // A Date before 1677 makes a huge apparent age, not an overflow.
  const Headers ancient = make_headers({{"Date", "Sat, 01 Jan 1000 00:00:00 GMT"}});
  CHECK(relay::cache::current_age(ancient, kNow, kNow, kNow) > Seconds{300LL * 365 * 86400});
}

TEST_CASE("freshness: stamp_date adds or replaces an invalid Date (RFC 9110 6.6.1)") {
  const SysTime received = at(kRfcExample);
  const std::string stamped = "Sun, 06 Nov 1994 08:49:37 GMT";
  struct Row {
    const char* what;
    Pairs before;
    std::vector<std::string> dates;  // the Date lines after
  };
  const std::vector<Row> rows = {
      {"missing", {{"ETag", "\"x\""}}, {stamped}},
      {"valid is kept as sent", {{"Date", "Sunday, 15-Jan-24 12:00:00 GMT"}}, {"Sunday, 15-Jan-24 12:00:00 GMT"}},
      {"invalid", {{"Date", "yesterday"}}, {stamped}},
      {"runs of spaces", {{"Date", "Mon,  15 Jan 2024 12:00:00 GMT"}}, {stamped}},
      {"empty", {{"Date", ""}}, {stamped}},
      {"two lines", {{"Date", kDate}, {"date", kDate}}, {stamped}},
  };
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    Headers h = make_headers(r.before);
    relay::cache::stamp_date(h, received);
    std::vector<std::string> dates;
    for (const auto& f : h) {
      if (relay::http::iequals(f.name, "Date")) dates.push_back(f.value);
    }
    CHECK(dates == r.dates);
    CHECK(h.get("ETag") == make_headers(r.before).get("ETag"));
  }
  // With a stamped Date an Expires has its reference again.
  Headers h = make_headers({{"Date", "tomorrow"}, {"Expires", "Mon, 15 Jan 2024 12:01:00 GMT"}});
  relay::cache::stamp_date(h, kNow);
  CHECK(relay::cache::freshness_lifetime(h, Policy{}).count() == 60);
}

TEST_CASE("freshness: format_http_date writes IMF-fixdate (RFC 9110 5.6.7)") {
  CHECK(relay::cache::format_http_date(at(kRfcExample)) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(relay::cache::format_http_date(at(0)) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(relay::cache::format_http_date(kNow + 999ms) == "Mon, 15 Jan 2024 12:00:00 GMT");
  for (std::int64_t t : {std::int64_t{0}, kRfcExample, std::int64_t{1709251199},
                         std::int64_t{4102444800}}) {
    CAPTURE(t);
    auto text = relay::cache::format_http_date(at(t));
    CHECK(relay::cache::parse_http_date(text, kNow) == at(t));
  }
}

TEST_CASE("freshness: only GET/HEAD without request no-store use the cache (RFC 9111 5.2.1.5)") {
  struct Row {
    const char* method;
    Pairs headers;
    bool use;
  };
  const std::vector<Row> rows = {
      {"GET", {}, true},
      {"HEAD", {}, true},
      {"POST", {}, false},
      {"get", {}, false},  // methods are case-sensitive (RFC 9110 9.1)
      {"GET", {{"Cache-Control", "no-store"}}, false},
      {"GET", {{"cache-control", "max-age=0, NO-STORE"}}, false},
      {"GET", {{"Cache-Control", "no-cache"}}, true},
      {"GET", {{"Pragma", "no-cache"}}, true},
  };
  for (const auto& r : rows) {
    const std::string label = r.method;
    CAPTURE(label);
    CHECK(relay::cache::request_may_use_cache(r.method, make_headers(r.headers)) == r.use);
  }
}

TEST_CASE("freshness: may_store decision matrix (RFC 9111 3)") {
  const Policy no_ttl{};
  const Policy ttl{.default_ttl = Seconds{60}};
  const Policy small{.default_ttl = Seconds{60}, .max_object_size = 1000};
  Policy rule_ttl;
  rule_ttl.ttl_override = Seconds{3600};
  const Pairs heur = {{"Date", kDate}, {"Last-Modified", kLm5d}};
  const Pairs mu = {{"Cache-Control", "must-understand, no-store, max-age=60"}};
  struct Row {
    const char* what;
    const char* method;
    Pairs req;
    int status;
    Pairs res;
    Policy policy;
    StoreDecision expected;
  };
  const std::vector<Row> rows = {
      {"plain max-age", "GET", {}, 200, {{"Cache-Control", "max-age=60"}}, no_ttl,
       StoreDecision::Store},
      {"HEAD", "HEAD", {}, 200, {{"Cache-Control", "max-age=60"}}, no_ttl, StoreDecision::Store},
      {"POST", "POST", {}, 200, {{"Cache-Control", "max-age=60"}}, no_ttl,
       StoreDecision::NotCacheableMethod},
      {"request no-store", "GET", {{"Cache-Control", "no-store"}}, 200,
       {{"Cache-Control", "max-age=60"}}, no_ttl, StoreDecision::NoStore},
      {"response no-store", "GET", {}, 200, {{"Cache-Control", "max-age=60, No-Store"}}, ttl,
       StoreDecision::NoStore},
      {"private", "GET", {}, 200, {{"Cache-Control", "private, max-age=60"}}, ttl,
       StoreDecision::Private},
      {"private field list", "GET", {}, 200,
       {{"Cache-Control", "private=\"Set-Cookie\", max-age=60"}}, no_ttl, StoreDecision::Store},
      {"authorization", "GET", {{"Authorization", "Bearer x"}}, 200,
       {{"Cache-Control", "max-age=60"}}, ttl, StoreDecision::Authorization},
      {"authorization + public", "GET", {{"Authorization", "Bearer x"}}, 200,
       {{"Cache-Control", "public, max-age=60"}}, no_ttl, StoreDecision::Store},
      {"authorization + s-maxage", "GET", {{"Authorization", "Bearer x"}}, 200,
       {{"Cache-Control", "s-maxage=60"}}, no_ttl, StoreDecision::Store},
      {"authorization + must-revalidate", "GET", {{"authorization", "Basic x"}}, 200,
       {{"Cache-Control", "must-revalidate, max-age=60"}}, no_ttl, StoreDecision::Store},
      {"1xx", "GET", {}, 100, {{"Cache-Control", "max-age=60"}}, ttl,
       StoreDecision::NotCacheableStatus},
      {"206", "GET", {}, 206, {{"Cache-Control", "max-age=60"}}, ttl,
       StoreDecision::NotCacheableStatus},
      {"304", "GET", {}, 304, {{"Cache-Control", "max-age=60"}}, ttl,
       StoreDecision::NotCacheableStatus},
      {"302 without freshness", "GET", {}, 302, {}, ttl, StoreDecision::NotCacheableStatus},
      {"302 with max-age", "GET", {}, 302, {{"Cache-Control", "max-age=60"}}, no_ttl,
       StoreDecision::Store},
      {"500 with Expires", "GET", {}, 500, {{"Expires", "Mon, 15 Jan 2024 13:00:00 GMT"}},
       no_ttl, StoreDecision::Store},
      {"500 default ttl only", "GET", {}, 500, {}, ttl, StoreDecision::NotCacheableStatus},
      {"404 default ttl", "GET", {}, 404, {}, ttl, StoreDecision::Store},
      {"301 default ttl", "GET", {}, 301, {}, ttl, StoreDecision::Store},
      {"200 nothing, no ttl", "GET", {}, 200, {}, no_ttl, StoreDecision::NoFreshness},
      {"200 default ttl", "GET", {}, 200, {}, ttl, StoreDecision::Store},
      {"no-cache is storable", "GET", {}, 200, {{"Cache-Control", "no-cache, max-age=60"}},
       no_ttl, StoreDecision::Store},
      {"too large", "GET", {}, 200, {{"Content-Length", "1001"}}, small,
       StoreDecision::TooLarge},
      {"at the limit", "GET", {}, 200, {{"Content-Length", "1000"}}, small,
       StoreDecision::Store},
      {"unlimited", "GET", {}, 200, {{"Content-Length", "999999999"}}, ttl, StoreDecision::Store},
      {"bad length", "GET", {}, 200, {{"Content-Length", "lots"}}, small, StoreDecision::Store},
      {"invalid max-age still explicit", "GET", {}, 200, {{"Cache-Control", "max-age=x"}},
       no_ttl, StoreDecision::Store},
      // §4.2.2: heuristic freshness and a rule ttl count as freshness.
      {"heuristic", "GET", {}, 200, heur, no_ttl, StoreDecision::Store},
      {"Last-Modified without Date", "GET", {}, 200, {{"Last-Modified", kLm5d}}, no_ttl,
       StoreDecision::NoFreshness},
      {"heuristic status only", "GET", {}, 302, heur, no_ttl, StoreDecision::NotCacheableStatus},
      {"rule ttl", "GET", {}, 200, {}, rule_ttl, StoreDecision::Store},
      {"rule ttl does not make errors cacheable", "GET", {}, 500, {}, rule_ttl,
       StoreDecision::NotCacheableStatus},
      {"206 even with heuristic", "GET", {}, 206, heur, no_ttl, StoreDecision::NotCacheableStatus},
      // §4.2.2: public marks any final status explicitly cacheable, so the
      // heuristic applies to it too.
      {"public 599 with Last-Modified", "GET", {}, 599, {{"Cache-Control", "public"}, heur[0], heur[1]},
       no_ttl, StoreDecision::Store},
      {"public 302 with Last-Modified", "GET", {}, 302, {{"Cache-Control", "public"}, heur[0], heur[1]},
       no_ttl, StoreDecision::Store},
      {"599 with Last-Modified, not public", "GET", {}, 599, heur, no_ttl,
       StoreDecision::NotCacheableStatus},
      {"public 500 without Last-Modified", "GET", {}, 500, {{"Cache-Control", "public"}, heur[0]}, no_ttl,
       StoreDecision::NoFreshness},
      {"public 500, default ttl as the heuristic", "GET", {}, 500, {{"Cache-Control", "public"}}, ttl,
       StoreDecision::Store},
      {"public 206 still refused", "GET", {}, 206, {{"Cache-Control", "public"}, heur[0], heur[1]}, no_ttl,
       StoreDecision::NotCacheableStatus},
      {"public 1xx still refused", "GET", {}, 103, {{"Cache-Control", "public"}, heur[0], heur[1]}, no_ttl,
       StoreDecision::NotCacheableStatus},
      // §4.1: Vary: * never matches.
      {"Vary: *", "GET", {}, 200, {{"Cache-Control", "max-age=60"}, {"Vary", "*"}}, no_ttl,
       StoreDecision::VaryStar},
      {"Vary list with *", "GET", {}, 200,
       {{"Cache-Control", "max-age=60"}, {"Vary", "Accept-Encoding, *"}}, no_ttl,
       StoreDecision::VaryStar},
      {"Vary: Accept", "GET", {}, 200, {{"Cache-Control", "max-age=60"}, {"Vary", "Accept"}},
       no_ttl, StoreDecision::Store},
      // §5.2.2.3: must-understand overrides no-store for understood codes only.
      {"must-understand 200", "GET", {}, 200, mu, no_ttl, StoreDecision::Store},
      {"must-understand 307", "GET", {}, 307, mu, no_ttl, StoreDecision::Store},
      {"must-understand unknown code", "GET", {}, 299, mu, no_ttl,
       StoreDecision::NotCacheableStatus},
      {"must-understand 500 with max-age", "GET", {}, 500,
       {{"Cache-Control", "must-understand, max-age=60"}}, no_ttl,
       StoreDecision::NotCacheableStatus},
      {"must-understand keeps request no-store", "GET", {{"Cache-Control", "no-store"}}, 200, mu,
       no_ttl, StoreDecision::NoStore},
      {"must-understand keeps private", "GET", {}, 200,
       {{"Cache-Control", "must-understand, private, max-age=60"}}, no_ttl,
       StoreDecision::Private},
  };
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    auto got = relay::cache::may_store(r.method, make_headers(r.req), r.status,
                                       make_headers(r.res), r.policy);
    CHECK(relay::cache::to_string(got) == relay::cache::to_string(r.expected));
  }
}

TEST_CASE("freshness: lifetime precedence s-maxage > max-age > Expires (RFC 9111 4.2.1)") {
  const Policy ttl{.default_ttl = Seconds{300}};
  const std::string date = "Mon, 15 Jan 2024 12:00:00 GMT";
  struct Row {
    const char* what;
    Pairs res;
    Policy policy;
    std::int64_t lifetime;
  };
  const std::vector<Row> rows = {
      {"s-maxage beats max-age (RFC 9111 5.2.2.10)",
       {{"Cache-Control", "max-age=60, s-maxage=10"}}, ttl, 10},
      {"max-age beats Expires (RFC 9111 5.3)",
       {{"Cache-Control", "max-age=60"}, {"Date", date}, {"Expires", "Mon, 15 Jan 2024 14:00:00 GMT"}},
       ttl, 60},
      {"Expires - Date", {{"Date", date}, {"Expires", "Mon, 15 Jan 2024 12:30:00 GMT"}}, ttl, 1800},
      {"Expires in rfc850 form", {{"Date", date}, {"Expires", "Monday, 15-Jan-24 12:01:00 GMT"}},
       ttl, 60},
      {"Expires before Date", {{"Date", date}, {"Expires", "Mon, 15 Jan 2024 11:00:00 GMT"}}, ttl,
       0},
      {"invalid Expires is already expired (RFC 9111 5.3)", {{"Date", date}, {"Expires", "0"}},
       ttl, 0},
      {"Expires without Date", {{"Expires", "Mon, 15 Jan 2024 14:00:00 GMT"}}, ttl, 0},
      {"invalid max-age is stale", {{"Cache-Control", "max-age=soon"}}, ttl, 0},
      {"default ttl", {}, ttl, 300},
      {"no default", {}, Policy{}, 0},
      {"huge max-age saturates", {{"Cache-Control", "max-age=99999999999"}}, ttl, 2147483648},
  };
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    CHECK(relay::cache::freshness_lifetime(make_headers(r.res), r.policy).count() == r.lifetime);
  }
}

TEST_CASE("freshness: public allows heuristic freshness for any final status (RFC 9111 4.2.2)") {
  // Last-Modified five days before Date: 10% is 12 hours.
  const Pairs heur = {{"Date", kDate}, {"Last-Modified", kLm5d}};
  auto with = [&](const char* cc) {
    Pairs h = heur;
    if (cc) h.emplace_back("Cache-Control", cc);
    return make_headers(h);
  };
  const Policy p{.default_ttl = Seconds{7}};
  CHECK(relay::cache::freshness_lifetime(with("public"), p, 599).count() == 43200);
  CHECK(relay::cache::freshness_lifetime(with("public"), p, 500).count() == 43200);
  CHECK(relay::cache::freshness_lifetime(with(nullptr), p, 200).count() == 43200);
  // Without public a 599 gets no heuristic (it would not have been stored).
  CHECK(relay::cache::freshness_lifetime(with(nullptr), p, 599).count() == 7);
  // Explicit freshness still wins over the heuristic.
  CHECK(relay::cache::freshness_lifetime(with("public, max-age=5"), p, 599).count() == 5);
  // The stored-response overload agrees.
  CHECK(relay::cache::freshness_lifetime(with("public"), p).count() == 43200);
}

TEST_CASE("freshness: current_age with Age, Date and delays (RFC 9111 4.2.3)") {
  const SysTime request_time = kNow;
  struct Row {
    const char* what;
    Pairs res;
    SysTime response_time;
    SysTime now;
    std::int64_t age;
  };
  const std::string date = "Mon, 15 Jan 2024 12:00:00 GMT";  // == kNow
  const std::vector<Row> rows = {
      {"fresh from origin", {{"Date", date}}, kNow, kNow, 0},
      {"resident time", {{"Date", date}}, kNow, kNow + 30s, 30},
      {"response delay counts", {{"Date", date}}, kNow + 2s, kNow + 2s, 2},
      {"Age header", {{"Date", date}, {"Age", "100"}}, kNow + 1s, kNow + 11s, 111},
      {"apparent age beats smaller Age",
       {{"Date", "Mon, 15 Jan 2024 11:59:00 GMT"}, {"Age", "10"}}, kNow, kNow + 5s, 65},
      {"Date in the future clamps to 0",
       {{"Date", "Mon, 15 Jan 2024 13:00:00 GMT"}}, kNow, kNow + 5s, 5},
      {"junk Age is 0", {{"Date", date}, {"Age", "ten"}}, kNow, kNow, 0},
      {"negative Age is junk", {{"Date", date}, {"Age", "-50"}}, kNow, kNow, 0},
      {"first valid Age line", {{"Age", "x"}, {"age", "40"}, {"Age", "90"}}, kNow, kNow, 40},
      {"no Date", {{"Age", "7"}}, kNow + 3s, kNow + 3s, 10},
      {"now before response_time", {{"Date", date}}, kNow + 5s, kNow, 5},
  };
  for (const auto& r : rows) {
    const std::string label = r.what;
    CAPTURE(label);
    auto age = relay::cache::current_age(make_headers(r.res), request_time, r.response_time, r.now);
    CHECK(age.count() == r.age);
  }
}

TEST_CASE("freshness: fresh while lifetime > current_age (RFC 9111 4.2)") {
  const Headers res = make_headers(
      {{"Date", "Mon, 15 Jan 2024 12:00:00 GMT"}, {"Cache-Control", "max-age=60"}, {"Age", "20"}});
  const Policy p{};
  struct Row {
    SysTime now;
    bool fresh;
  };
  const Row rows[] = {{kNow, true}, {kNow + 39s, true}, {kNow + 40s, false}, {kNow + 1h, false}};
  for (const auto& r : rows) {
    CAPTURE((r.now - kNow).count());
    CHECK(relay::cache::is_fresh(res, p, kNow, kNow, r.now) == r.fresh);
  }

  const Headers defaulted = make_headers({{"Date", "Mon, 15 Jan 2024 12:00:00 GMT"}});
  CHECK(relay::cache::is_fresh(defaulted, Policy{.default_ttl = Seconds{10}}, kNow, kNow, kNow + 9s));
  CHECK_FALSE(relay::cache::is_fresh(defaulted, Policy{.default_ttl = Seconds{10}}, kNow, kNow, kNow + 10s));
  CHECK_FALSE(relay::cache::is_fresh(defaulted, Policy{}, kNow, kNow, kNow));
}

TEST_CASE("freshness: store decisions have distinct names") {
  using D = StoreDecision;
  const D all[] = {D::Store,         D::NotCacheableMethod, D::NotCacheableStatus, D::NoStore,
                   D::Private,       D::Authorization,      D::NoFreshness,        D::TooLarge,
                   D::VaryStar};
  for (std::size_t i = 0; i < std::size(all); ++i) {
    CHECK_FALSE(relay::cache::to_string(all[i]).empty());
    for (std::size_t j = i + 1; j < std::size(all); ++j) {
      CHECK(relay::cache::to_string(all[i]) != relay::cache::to_string(all[j]));
    }
  }
}

TEST_CASE("freshness: no-cache and reload requests need the origin (RFC 9111 5.2.1.1, 5.2.1.4, 5.2.2.4, 5.4)") {
  struct Row {
    const char* request_cc;
    const char* pragma;
    const char* response_cc;
    long age;
    bool expected;
  };
  const Row rows[] = {
      {nullptr, nullptr, "max-age=60", 5, false},
      {nullptr, nullptr, "no-cache, max-age=60", 5, true},
      {nullptr, nullptr, "no-cache=\"set-cookie\", max-age=60", 5, false},
      {"no-cache", nullptr, "max-age=60", 5, true},
      {"max-age=0", nullptr, "max-age=60", 0, true},
      {"max-age=10", nullptr, "max-age=60", 5, false},
      {"max-age=10", nullptr, "max-age=60", 11, true},
      {nullptr, "no-cache", "max-age=60", 5, true},
      {"max-stale=5", "no-cache", "max-age=60", 5, false},  // Pragma only counts without Cache-Control
  };
  for (const auto& row : rows) {
    relay::http::Headers request, response;
    if (row.request_cc) request.add("Cache-Control", row.request_cc);
    if (row.pragma) request.add("Pragma", row.pragma);
    response.add("Cache-Control", row.response_cc);
    CAPTURE(row.request_cc ? row.request_cc : "-");
    CAPTURE(row.response_cc);
    CHECK(relay::cache::needs_validation(request, response, relay::cache::Seconds(row.age)) == row.expected);
  }
}

TEST_CASE("freshness: a rule's status list and negative_ttl") {
  using relay::cache::configured_default_ttl;
  using relay::cache::freshness_lifetime;
  using relay::cache::operator_ttl;
  const Headers none = make_headers({{"Date", kDate}});
  const Headers origin_60 = make_headers({{"Date", kDate}, {"Cache-Control", "max-age=60"}});

  Policy mirror;  // ttl = "30d" on a path, [cache] negative_ttl = "1m"
  mirror.ttl_override = Seconds{30 * 86400};
  mirror.negative_ttl = Seconds{60};
  CHECK(freshness_lifetime(none, mirror, 200) == Seconds{30 * 86400});
  // A page not there yet is not missing for 30 days.
  CHECK(freshness_lifetime(none, mirror, 404) == Seconds{60});
  CHECK(freshness_lifetime(origin_60, mirror, 410) == Seconds{60});
  CHECK(operator_ttl(mirror, 404) == Seconds{60});

  // status = [200, 404]: the rule's ttl for those as given, the rest as the origin says.
  Policy listed = mirror;
  static constexpr int kListed[] = {200, 404};
  listed.rule_statuses = kListed;
  listed.fallback_default_ttl = Seconds{0};
  CHECK(freshness_lifetime(none, listed, 404) == Seconds{30 * 86400});
  CHECK(freshness_lifetime(origin_60, listed, 301) == Seconds{60});
  CHECK_FALSE(operator_ttl(listed, 301).has_value());
  CHECK(freshness_lifetime(none, listed, 410) == Seconds{60});  // not listed: negative_ttl, not nothing
  Policy no_negative = listed;
  no_negative.negative_ttl.reset();
  CHECK(freshness_lifetime(none, no_negative, 410) == Seconds{0});

  // default_ttl: a rule's covers its statuses; the others get [cache]'s, negatives shortened.
  Policy defaults;
  defaults.default_ttl = Seconds{3600};
  static constexpr int kOk[] = {200};
  defaults.rule_statuses = kOk;
  defaults.fallback_default_ttl = Seconds{600};
  defaults.negative_ttl = Seconds{30};
  CHECK(configured_default_ttl(defaults, 200) == Seconds{3600});
  CHECK(configured_default_ttl(defaults, 301) == Seconds{600});
  CHECK(configured_default_ttl(defaults, 404) == Seconds{30});
  // No lifetime from the configuration: negative_ttl does not invent one.
  Policy plain;
  plain.negative_ttl = Seconds{60};
  CHECK(configured_default_ttl(plain, 404) == Seconds{0});
  CHECK(relay::cache::may_store("GET", {}, 404, none, plain) == StoreDecision::NoFreshness);
  CHECK(relay::cache::may_store("GET", {}, 404, none, mirror) == StoreDecision::Store);
  // The origin's own freshness on a 404 is kept when no rule ttl applies.
  CHECK(freshness_lifetime(origin_60, plain, 404) == Seconds{60});
}
