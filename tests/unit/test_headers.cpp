// Headers container, string helpers, hop-by-hop stripping and reason
// phrases: the building blocks every request path relies on.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "relay/http/headers.hpp"
#include "relay/http/request.hpp"
#include "relay/http/response.hpp"

using relay::http::Headers;

namespace {

std::vector<std::string> names(const Headers& h) {
  std::vector<std::string> out;
  for (const auto& f : h) out.push_back(f.name);
  return out;
}

}  // namespace

TEST_CASE("headers: string helpers (RFC 9110 5.6.3 OWS)") {
  CHECK(relay::http::iequals("Content-Type", "content-TYPE"));
  CHECK_FALSE(relay::http::iequals("Content-Type", "Content-Typ"));
  CHECK(relay::http::iequals("", ""));
  CHECK(relay::http::to_lower("X-FOO-Bar9") == "x-foo-bar9");

  struct Row {
    const char* in;
    const char* out;
  };
  const Row rows[] = {
      {"  a b \t", "a b"}, {"\t\t", ""}, {"", ""}, {"x", "x"}, {"\r\nx\r\n", "\r\nx\r\n"},
  };
  for (const auto& r : rows) {
    const std::string label = r.in;
    CAPTURE(label);
    CHECK(relay::http::trim(r.in) == r.out);
  }
}

TEST_CASE("headers: lookups ignore field-name case (RFC 9110 5.1)") {
  Headers h;
  h.add("Content-Type", "text/html");
  h.add("X-Multi", "a");
  h.add("x-multi", "b");

  for (const char* name : {"content-type", "CONTENT-TYPE", "Content-Type"}) {
    CAPTURE(name);
    CHECK(h.contains(name));
    REQUIRE(h.get(name));
    CHECK(*h.get(name) == "text/html");
  }
  CHECK_FALSE(h.get("Content-Length"));
  CHECK(*h.get("X-MULTI") == "a");
  CHECK(*h.get_combined("x-Multi") == "a, b");
  CHECK_FALSE(h.get_combined("absent"));
  CHECK(h.size() == 3);
}

TEST_CASE("headers: set replaces every line in place, remove counts") {
  Headers h;
  h.add("A", "1");
  h.add("B", "2");
  h.add("a", "3");
  h.set("A", "x");
  CHECK(names(h) == std::vector<std::string>{"A", "B"});
  CHECK(*h.get("a") == "x");

  h.set("C", "new");
  CHECK(names(h) == std::vector<std::string>{"A", "B", "C"});

  h.add("b", "again");
  CHECK(h.remove("B") == 2);
  CHECK(h.remove("B") == 0);
  CHECK(names(h) == std::vector<std::string>{"A", "C"});
  h.clear();
  CHECK(h.empty());
}

TEST_CASE("headers: has_token reads list elements across lines (RFC 9110 5.6.1)") {
  Headers h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("Vary", "\"a,b\", Accept");
  h.add("connection", " close ");
  CHECK(h.has_token("Connection", "upgrade"));
  CHECK(h.has_token("CONNECTION", "Close"));
  CHECK(h.has_token("connection", "KEEP-ALIVE"));
  CHECK_FALSE(h.has_token("Connection", "keep"));
  CHECK(h.has_token("Vary", "accept"));
  CHECK_FALSE(h.has_token("Vary", "a"));  // inside a quoted string
  CHECK_FALSE(h.has_token("Absent", "x"));
}

TEST_CASE("headers: list elements honour quotes and skip empties (RFC 9110 5.6.1)") {
  std::vector<std::string> got;
  relay::http::for_each_list_element(" a , ,\"b,c\",  d\t,", [&](std::string_view e) {
    got.emplace_back(e);
  });
  CHECK(got == std::vector<std::string>{"a", "\"b,c\"", "d"});
}

TEST_CASE("headers: hop-by-hop field names (RFC 9110 7.6.1)") {
  struct Row {
    const char* name;
    bool hop;
  };
  const Row rows[] = {
      {"Connection", true},          {"keep-alive", true},       {"PROXY-CONNECTION", true},
      {"Proxy-Authenticate", true},  {"proxy-authorization", true}, {"TE", true},
      {"trailer", true},             {"Transfer-Encoding", true},  {"upgrade", true},
      {"Content-Length", false},     {"Host", false},              {"Authorization", false},
      {"Trailers", false},           {"Cache-Control", false},
  };
  for (const auto& r : rows) {
    const std::string label = r.name;
    CAPTURE(label);
    CHECK(relay::http::is_hop_by_hop(r.name) == r.hop);
  }
}

TEST_CASE("headers: strip_hop_by_hop also drops Connection-listed fields (RFC 9110 7.6.1)") {
  Headers h;
  h.add("Host", "example.com");
  h.add("Connection", "close, X-Secret");
  h.add("Keep-Alive", "timeout=5");
  h.add("x-secret", "1");
  h.add("Transfer-Encoding", "chunked");
  h.add("connection", "x-other");
  h.add("X-Other", "2");
  h.add("Upgrade", "h2c");
  h.add("TE", "trailers");
  h.add("Proxy-Authorization", "Basic abc");
  h.add("Content-Type", "text/plain");
  h.add("X-Kept", "3");

  relay::http::strip_hop_by_hop(h);
  CHECK(names(h) == std::vector<std::string>{"Host", "Content-Type", "X-Kept"});
  CHECK(*h.get("x-kept") == "3");
}

TEST_CASE("headers: strip_hop_by_hop keeps end-to-end fields untouched") {
  Headers h;
  h.add("A", "1");
  h.add("a", "2");
  relay::http::strip_hop_by_hop(h);
  CHECK(*h.get_combined("A") == "1, 2");
  CHECK(names(h) == std::vector<std::string>{"A", "a"});
}

TEST_CASE("response: reason phrases (RFC 9110 15)") {
  struct Row {
    int status;
    const char* phrase;
  };
  const Row rows[] = {
      {200, "OK"},          {204, "No Content"},        {304, "Not Modified"},
      {400, "Bad Request"}, {404, "Not Found"},         {413, "Content Too Large"},
      {414, "URI Too Long"}, {431, "Request Header Fields Too Large"},
      {502, "Bad Gateway"}, {504, "Gateway Timeout"},   {299, ""},
      {0, ""},
  };
  for (const auto& r : rows) {
    CAPTURE(r.status);
    CHECK(relay::http::reason_phrase(r.status) == r.phrase);
  }
}

TEST_CASE("Request::reset: a used request is a fresh one again") {
  relay::http::Request used;
  used.method = "POST";
  used.target = "/a/rather/long/target/that/does/not/fit/inline?with=query";
  used.received_target = used.target;
  used.scheme = "https";
  used.version_major = 2;
  used.version_minor = 0;
  used.headers.add("Host", "example.test");
  used.headers.add("User-Agent", "a client with a name longer than the inline buffer");
  used.keep_alive = false;
  used.has_body = true;
  used.content_length = 12;
  used.client_address = "203.0.113.9";
  used.peer_address = "127.0.0.1";
  used.request_id = "0123456789abcdef";
  used.route = 3;
  used.route_label = "images";
  used.background = true;
  REQUIRE_FALSE(used == relay::http::Request{});
  used.reset();
  CHECK(used == relay::http::Request{});
  CHECK(used.headers.empty());
  CHECK_FALSE(used.headers.get("host"));
}
