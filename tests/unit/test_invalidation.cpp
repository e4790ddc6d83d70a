// Invalidation by unsafe methods: which responses invalidate, and which
// targets (own, Location, Content-Location) are evicted on the same origin.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "header_pairs.hpp"
#include "relay/cache/invalidation.hpp"

using relay::cache::invalidates;
using relay::cache::invalidation_targets;
using relay::http::Headers;
using relay::http::Request;
using Targets = std::vector<std::string>;

namespace {

Request request(std::string method, std::string target, const char* host = "example.com") {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  if (host) r.headers.add("Host", host);
  return r;
}

// Joined so a failing CHECK prints the lists.
std::string join(const Targets& targets) {
  std::string out;
  for (const auto& t : targets) out += "[" + t + "]";
  return out;
}

using relay::test::headers;

}  // namespace

TEST_CASE("invalidation: unsafe methods with a non-error status invalidate (RFC 9111 4.4)") {
  struct Row {
    const char* method;
    int status;
    bool expected;
  };
  const Row rows[] = {
      {"POST", 200, true},    {"POST", 201, true},   {"POST", 204, true},
      {"POST", 303, true},    {"POST", 399, true},   {"PUT", 200, true},
      {"DELETE", 204, true},  {"PATCH", 200, true},  {"PURGE", 200, true},
      {"post", 200, true},  // methods are case-sensitive (RFC 9110 9.1): not GET
      {"POST", 100, false},   {"POST", 199, false},  {"POST", 400, false},
      {"POST", 404, false},   {"DELETE", 500, false}, {"PUT", 503, false},
      {"GET", 200, false},    {"HEAD", 200, false},  {"OPTIONS", 200, false},
      {"TRACE", 200, false},  {"GET", 302, false},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.method));
    CAPTURE(r.status);
    CHECK(invalidates(r.method, r.status) == r.expected);
  }
}

TEST_CASE("invalidation: the request target comes first, as received (RFC 9111 4.4)") {
  CHECK(join(invalidation_targets(request("POST", "/a/b?x=1"), Headers{})) == "[/a/b?x=1]");
  CHECK(join(invalidation_targets(request("POST", "/%7Euser"), Headers{})) == "[/%7Euser]");
  // Without a Host the own target still goes; Location cannot be resolved.
  CHECK(join(invalidation_targets(request("POST", "/a", nullptr),
                                  headers({{"Location", "/b"}}))) == "[/a]");
}

TEST_CASE("invalidation: absolute-form targets use their path and query (RFC 9112 3.2.2)") {
  CHECK(join(invalidation_targets(request("POST", "http://example.com/a?x=1"), Headers{})) ==
        "[/a?x=1]");
  CHECK(join(invalidation_targets(request("POST", "http://example.com"), Headers{})) == "[/]");
  // Its authority, not Host, is the origin Location is compared with.
  CHECK(join(invalidation_targets(request("POST", "http://other.example/a", "example.com"),
                                  headers({{"Location", "http://other.example/b"},
                                           {"Content-Location", "http://example.com/c"}}))) ==
        "[/a][/b]");
  // Non-http schemes, authority-form and asterisk-form address nothing cached.
  CHECK(invalidation_targets(request("POST", "ftp://example.com/a"), Headers{}).empty());
  CHECK(invalidation_targets(request("CONNECT", "example.com:443"), Headers{}).empty());
  CHECK(invalidation_targets(request("OPTIONS", "*"), Headers{}).empty());
}

TEST_CASE("invalidation: Location and Content-Location on the same origin (RFC 9111 4.4)") {
  struct Row {
    const char* label;
    const char* host;
    const char* location;
    Targets expected;
  };
  const Row rows[] = {
      {"absolute same host", "example.com", "http://example.com/new", {"/items", "/new"}},
      {"host case-insensitive", "Example.COM", "http://EXAMPLE.com/new", {"/items", "/new"}},
      {"https same host", "example.com", "https://example.com/new", {"/items", "/new"}},
      {"explicit default port", "example.com", "http://example.com:80/new", {"/items", "/new"}},
      {"host default port", "example.com:80", "http://example.com/new", {"/items", "/new"}},
      {"same non-default port", "example.com:8080", "http://example.com:8080/new",
       {"/items", "/new"}},
      {"other port", "example.com:8080", "http://example.com/new", {"/items"}},
      {"other port in Location", "example.com", "http://example.com:8080/new", {"/items"}},
      {"other host", "example.com", "http://evil.example/new", {"/items"}},
      {"subdomain", "example.com", "http://www.example.com/new", {"/items"}},
      {"network-path other host", "example.com", "//evil.example/new", {"/items"}},
      {"network-path same host", "example.com", "//example.com/new", {"/items", "/new"}},
      {"other scheme", "example.com", "ftp://example.com/new", {"/items"}},
      {"absolute path", "example.com", "/new?id=7", {"/items", "/new?id=7"}},
      {"relative path", "example.com", "42", {"/items", "/42"}},
      {"dot segments", "example.com", "../up/./x", {"/items", "/up/x"}},
      {"query only", "example.com", "?page=2", {"/items", "/items?page=2"}},
      {"fragment dropped", "example.com", "/new#top", {"/items", "/new"}},
      {"encoding kept", "example.com", "/a%20b?q=%26", {"/items", "/a%20b?q=%26"}},
      {"empty path", "example.com", "http://example.com", {"/items", "/"}},
      {"same as target", "example.com", "/items", {"/items"}},
      {"unparsable", "example.com", "http://exa mple.com/x", {"/items"}},
      {"unparsable relative", "example.com", "/a b", {"/items"}},
      {"surrounding whitespace", "example.com", "  /new  ", {"/items", "/new"}},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    for (const char* field : {"Location", "Content-Location"}) {
      CAPTURE(std::string(field));
      CHECK(join(invalidation_targets(request("POST", "/items", r.host),
                                      headers({{field, r.location}}))) == join(r.expected));
    }
  }
}

TEST_CASE("invalidation: relative references resolve against the request URI (RFC 3986 5.2)") {
  const auto targets =
      invalidation_targets(request("PUT", "/dir/sub/page?x=1"),
                           headers({{"Location", "other"}, {"Content-Location", "../up"}}));
  CHECK(join(targets) == join(Targets{"/dir/sub/page?x=1", "/dir/sub/other", "/dir/up"}));
}

TEST_CASE("invalidation: both fields, duplicates removed, order kept (RFC 9111 4.4)") {
  const auto targets = invalidation_targets(
      request("POST", "/items"),
      headers({{"Content-Type", "text/html"},
               {"Location", "/items/7"},
               {"Content-Location", "http://example.com/items/7"},
               {"content-location", "/items"},
               {"LOCATION", "/items/8"}}));
  CHECK(join(targets) == join(Targets{"/items", "/items/7", "/items/8"}));
}

TEST_CASE("invalidation: an invalid Host resolves nothing (RFC 9110 7.2)") {
  for (const char* host : {"", "user@example.com", "exa mple.com", "example.com/evil"}) {
    CAPTURE(std::string(host));
    CHECK(join(invalidation_targets(request("POST", "/items", host),
                                    headers({{"Location", "/new"}}))) == "[/items]");
  }
}
