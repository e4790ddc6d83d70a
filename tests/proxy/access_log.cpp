// The access log's two formats under hostile input (access_log.hpp): a text
// field cannot close its quotes, and a JSON line is valid JSON (RFC 8259)
// with invalid UTF-8 replaced by U+FFFD, byte by byte.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "relay/proxy/access_log.hpp"

using namespace relay;
using namespace relay::proxy;

namespace {

AccessRecord with_agent(std::string_view agent) {
  AccessRecord r;
  r.client = "127.0.0.1";
  r.method = "GET";
  r.target = "/p";
  r.status = 200;
  r.user_agent = agent;
  return r;
}

// The JSON string value of "user_agent" as written (between its quotes).
std::string json_agent(std::string_view agent) {
  const auto line = AccessLog::format_json(with_agent(agent), "t");
  const std::string key = "\"user_agent\":\"";
  const auto begin = line.find(key) + key.size();
  return line.substr(begin, line.rfind("\"}") - begin);
}

}  // namespace

TEST_CASE("access log: text fields escape quotes, backslashes, controls and non-ASCII bytes as nginx does") {
  const auto line = AccessLog::format_text(with_agent("a\" 200 1 \"b\\c\x01\x7f\xc3\xa9"), "t");
  CHECK(line.find(R"("a\x22 200 1 \x22b\x5Cc\x01\x7F\xC3\xA9")") != std::string::npos);
  CHECK(std::count(line.begin(), line.end(), '"') == 6);
}

TEST_CASE("access log: a request refused before its request line is \"-\" in text, null in JSON") {
  AccessRecord r;
  r.client = "127.0.0.1";
  r.status = 400;
  CHECK(AccessLog::format_text(r, "t").find("] \"-\" 400 0 ") != std::string::npos);
  const auto json = AccessLog::format_json(r, "t");
  CHECK(json.find("\"method\":null,\"path\":null") != std::string::npos);
}

TEST_CASE("access log: JSON keeps well-formed UTF-8 and replaces every other byte by U+FFFD") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(json_agent("plain") == "plain");
  CHECK(json_agent("q\"b\\n\n\x01") == "q\\\"b\\\\n\\n\\u0001");
  CHECK(json_agent("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf") ==
        "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
  CHECK(json_agent("\xff") == fffd);
  CHECK(json_agent("\x80x") == fffd + "x");                          // a lone continuation byte
  CHECK(json_agent("\xc0\x80") == fffd + fffd);                      // overlong NUL
  CHECK(json_agent("\xe0\x80\xaf") == fffd + fffd + fffd);           // overlong '/'
  CHECK(json_agent("\xed\xa0\x80") == fffd + fffd + fffd);           // a UTF-16 surrogate
  CHECK(json_agent("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // past U+10FFFF
  CHECK(json_agent("\xe2\x82") == fffd + fffd);                      // cut short at the end
  CHECK(json_agent("\xe2\x82x") == fffd + fffd + "x");               // cut short by ASCII
}

TEST_CASE("access log: JSON carries host and referer") {
  auto r = with_agent("ua");
  r.host = "example.test";
  r.referer = "http://r.test/";
  const auto line = AccessLog::format_json(r, "2026-01-01T00:00:00.000Z");
  CHECK(line.find("\"host\":\"example.test\"") != std::string::npos);
  CHECK(line.find("\"referer\":\"http://r.test/\"") != std::string::npos);
  CHECK(line.find("\"time\":\"2026-01-01T00:00:00.000Z\"") != std::string::npos);
}

TEST_CASE("access log: a whole text line, every field at its place; durations as %.6f") {
  AccessRecord r;
  r.client = "203.0.113.7";
  r.method = "GET";
  r.target = "/a b";
  r.protocol = "HTTP/1.1";
  r.status = 206;
  r.bytes = 18446744073709551615ull;
  r.referer = "";
  r.user_agent = "curl/7.88";
  r.cache = cache::CacheStatus::Hit;
  r.duration_seconds = 0.0012345;
  r.upstream_seconds = 12.5;
  r.request_id = "0123456789abcdef";
  CHECK(AccessLog::format_text(r, "07/Dec/2026:19:00:00 +0000") ==
        "203.0.113.7 - - [07/Dec/2026:19:00:00 +0000] \"GET /a b HTTP/1.1\" 206 18446744073709551615 \"-\" "
        "\"curl/7.88\" cache=HIT time=0.001234 upstream=12.500000 id=0123456789abcdef\n");
  // Any duration a request can take reads as printf's "%.6f" of it.
  for (double v : {0.0, 1e-7, 4e-7, 6e-7, 0.000001, 0.123456789, 0.9999996, 1.0, 59.999999, 3600.25, 86400.000001,
                   123456789.5, 2e9, -1e-3}) {
    r.duration_seconds = v;
    r.upstream_seconds = -1;
    char expected[64];
    std::snprintf(expected, sizeof expected, " time=%.6f upstream=- ", v);
    const auto line = AccessLog::format_text(r, "t");
    CHECK_MESSAGE(line.find(expected) != std::string::npos, line << " wants " << expected);
  }
  // And 20 000 durations from a microsecond to hours, as printf has them.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-7, 4.5);
  int differ = 0;
  for (int i = 0; i < 20000; ++i) {
    r.duration_seconds = std::pow(10.0, exponent(rng));
    char expected[64];
    std::snprintf(expected, sizeof expected, " time=%.6f upstream=- ", r.duration_seconds);
    if (AccessLog::format_text(r, "t").find(expected) == std::string::npos) ++differ;
  }
  CHECK(differ == 0);
  // The longest line there can be still fits the room made for it.
  const std::string hostile(5000, '\x01');
  r.client = r.method = r.target = r.referer = r.user_agent = r.request_id = hostile;
  const auto line = AccessLog::format_text(r, std::string(40, 't'));
  CHECK(std::count(line.begin(), line.end(), '\\') == 6 * 5000);
  CHECK(line.back() == '\n');
}
