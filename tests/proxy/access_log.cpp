// The access log's two formats under hostile input (access_log.hpp): a text
// field cannot close its quotes, and a JSON line is valid JSON (RFC 8259)
// with invalid UTF-8 replaced by U+FFFD, byte by byte.
#include <doctest/doctest.h>

#include <algorithm>
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
