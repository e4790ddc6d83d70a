// Cache-key normalization: equivalent requests must share one key and
// requests that differ in what the response depends on must not.
#include <doctest/doctest.h>

#include <string>

#include "relay/cache/key.hpp"
#include "relay/cache/status.hpp"

using relay::cache::glob_match;
using relay::cache::make_key;
using relay::config::CacheKeyConfig;
using relay::http::Request;

namespace {

Request request(std::string target, std::string host = "example.com") {
  Request r;
  r.method = "GET";
  r.target = std::move(target);
  if (!host.empty()) r.headers.add("Host", std::move(host));
  return r;
}

std::string key_of(const Request& r, const CacheKeyConfig& cfg = {},
                   std::string_view scheme = "http") {
  auto k = make_key(r, cfg, scheme);
  CAPTURE(k.error);
  REQUIRE(k.ok);
  return k.key.primary;
}

struct Row {
  const char* target;
  const char* host;
  const char* key;
};

void check_rows(std::initializer_list<Row> rows, const CacheKeyConfig& cfg = {},
                std::string_view scheme = "http") {
  for (const auto& r : rows) {
    const std::string target = r.target, host = r.host, expected = r.key;
    CAPTURE(target);
    CAPTURE(host);
    CHECK(key_of(request(target, host), cfg, scheme) == expected);
  }
}

}  // namespace

TEST_CASE("key: host is case-insensitive, default port dropped (RFC 3986 6.2.2.1, 6.2.3)") {
  check_rows({
      {"/", "Example.COM", "http://example.com/"},
      {"/", "example.com:80", "http://example.com/"},
      {"/", "example.com:", "http://example.com/"},
      {"/", "example.com:8080", "http://example.com:8080/"},
      {"/", "example.com:0080", "http://example.com/"},
      {"/", "example.com:443", "http://example.com:443/"},
      {"/", " example.com ", "http://example.com/"},
      {"/", "127.0.0.1:9000", "http://127.0.0.1:9000/"},
      {"/", "[::1]:80", "http://[::1]/"},
  });
  CacheKeyConfig by_scheme;
  by_scheme.scheme = true;
  check_rows({{"/", "example.com:443", "https://example.com/"},
              {"/", "example.com:80", "https://example.com:80/"}},
             by_scheme, "https");
  check_rows({{"/", "example.com", "http://example.com/"}}, by_scheme, "HTTP");
}

TEST_CASE("key: without cache.key.scheme both schemes share one entry per URL") {
  // The port is normalised for the scheme the client used, then the key says http.
  check_rows({{"/", "example.com:443", "http://example.com/"}, {"/x", "Example.com", "http://example.com/x"}}, {},
             "https");
}

TEST_CASE("key: path percent-encoding and dot segments (RFC 3986 6.2.2.2, 6.2.2.3)") {
  check_rows({
      {"/a/b", "example.com", "http://example.com/a/b"},
      {"/%7euser", "example.com", "http://example.com/~user"},
      {"/%7Euser", "example.com", "http://example.com/~user"},
      {"/~user", "example.com", "http://example.com/~user"},
      {"/a%2fb", "example.com", "http://example.com/a%2Fb"},
      {"/%41%62c", "example.com", "http://example.com/Abc"},
      {"/a/./b/../c", "example.com", "http://example.com/a/c"},
      {"/a/b/..", "example.com", "http://example.com/a/"},
      {"/../../x", "example.com", "http://example.com/x"},
      // Runs of '/' are merged (nginx merge_slashes): RFC 3986 keeps empty
      // segments, but origins that merge them would see another path than
      // the one rules matched and the key named.
      {"/a//b", "example.com", "http://example.com/a/b"},
      {"//api///me", "example.com", "http://example.com/api/me"},
      {"/a/%2e%2E/b", "example.com", "http://example.com/b"},
      {"/a/.", "example.com", "http://example.com/a/"},
      {"/..", "example.com", "http://example.com/"},
      {"/a/..b/.c", "example.com", "http://example.com/a/..b/.c"},
      {"/A", "example.com", "http://example.com/A"},
  });
  // Equivalent spellings share one key.
  CHECK(key_of(request("/%7Efoo/./bar")) == key_of(request("/~foo/bar")));
  CHECK(key_of(request("/x")) != key_of(request("/X")));
}

TEST_CASE("key: query sorted, ignored parameters dropped, fragment dropped") {
  check_rows({
      {"/p?b=2&a=1", "example.com", "http://example.com/p?a=1&b=2"},
      {"/p?a=2&a=1", "example.com", "http://example.com/p?a=1&a=2"},
      {"/p?utm_source=x&id=7&utm_medium=y", "example.com", "http://example.com/p?id=7"},
      {"/p?fbclid=1&gclid=2", "example.com", "http://example.com/p"},
      {"/p?", "example.com", "http://example.com/p"},
      {"/p?a=1&&b=2", "example.com", "http://example.com/p?a=1&b=2"},
      {"/p?a&a=", "example.com", "http://example.com/p?a&a="},
      {"/p?a=%7e&b=%2f", "example.com", "http://example.com/p?a=~&b=%2F"},
      {"/p?a=%26&b=%3d", "example.com", "http://example.com/p?a=%26&b=%3D"},  // reserved stay encoded
      {"/p?b=1&b", "example.com", "http://example.com/p?b&b=1"},
      {"/p?UTM_source=1", "example.com", "http://example.com/p?UTM_source=1"},
      {"/p?utm%5Fsource=1&k=v", "example.com", "http://example.com/p?k=v"},
      {"/p?x=1#frag", "example.com", "http://example.com/p?x=1"},
  });
}

TEST_CASE("key: query order kept when sort_query is off") {
  CacheKeyConfig cfg;
  cfg.sort_query = false;
  cfg.ignore_params = {"session*", "*_ts"};
  check_rows(
      {
          {"/p?b=2&a=1", "example.com", "http://example.com/p?b=2&a=1"},
          {"/p?sessionid=9&b=2&cache_ts=5&utm_x=1", "example.com",
           "http://example.com/p?b=2&utm_x=1"},
      },
      cfg);
}

TEST_CASE("key: absolute-form target's authority wins over Host (RFC 9112 3.2.2)") {
  check_rows({
      {"http://Origin.example:80/a/../b?z=1&y=2", "other.example",
       "http://origin.example/b?y=2&z=1"},
      {"http://origin.example", "", "http://origin.example/"},
      {"http://user:pw@origin.example:8080/x", "other", "http://origin.example:8080/x"},
  });
}

TEST_CASE("key: configured request headers are appended") {
  CacheKeyConfig cfg;
  cfg.headers = {"Accept-Encoding", "X-Tenant"};
  Request r = request("/p?b=1&a=2");
  r.headers.add("accept-encoding", "  gzip ");
  r.headers.add("Accept-Encoding", "br");
  CHECK(key_of(r, cfg) == "http://example.com/p?a=2&b=1|accept-encoding=gzip, br|x-tenant=");

  Request other = request("/p?a=2&b=1");
  other.headers.add("X-TENANT", "acme");
  CHECK(key_of(other, cfg) == "http://example.com/p?a=2&b=1|accept-encoding=|x-tenant=acme");

  // Separators inside values cannot forge another header combination.
  Request tricky = request("/");
  tricky.headers.add("Accept-Encoding", "x|x-tenant=acme");
  CHECK(key_of(tricky, cfg) == "http://example.com/|accept-encoding=x%7Cx-tenant=acme|x-tenant=");
}

TEST_CASE("key: unparsable targets and hosts are rejected") {
  struct Bad {
    const char* target;
    const char* host;
  };
  const Bad rows[] = {
      {"", "example.com"},
      {"*", "example.com"},
      {"example.com:443", "example.com"},  // authority-form (CONNECT)
      {"/a b", "example.com"},
      {"/a\"b", "example.com"},
      {"/%zz", "example.com"},
      {"/", ""},
      {"/", "user@example.com"},
      {"/", "example.com:99999"},
      {"/", "example.com:http"},
      {"/", "exa mple.com"},
      {"/", "example.com/path"},
      {"mailto:someone@example.com", "example.com"},
  };
  for (const auto& b : rows) {
    const std::string target = b.target, host = b.host;
    CAPTURE(target);
    CAPTURE(host);
    auto k = make_key(request(b.target, b.host), CacheKeyConfig{});
    CHECK_FALSE(k.ok);
    CHECK_FALSE(k.error.empty());
  }
}

TEST_CASE("key: glob_match with '*'") {
  struct Row {
    const char* pattern;
    const char* text;
    bool match;
  };
  const Row rows[] = {
      {"utm_*", "utm_source", true}, {"utm_*", "utm_", true},     {"utm_*", "utm", false},
      {"utm_*", "xutm_a", false},    {"*", "", true},             {"", "", true},
      {"", "a", false},              {"a*b*c", "axxbyyc", true},  {"a*b*c", "axxbyy", false},
      {"*id", "fbclid", true},       {"fbclid", "FBCLID", false}, {"a**b", "ab", true},
      {"*a*", "bab", true},          {"a*a", "a", false},
  };
  for (const auto& r : rows) {
    const std::string pattern = r.pattern, text = r.text;
    CAPTURE(pattern);
    CAPTURE(text);
    CHECK(glob_match(r.pattern, r.text) == r.match);
  }
}

TEST_CASE("status: header values and metric labels agree") {
  using relay::cache::CacheStatus;
  CHECK(relay::cache::header_value(CacheStatus::Hit) == "HIT");
  CHECK(relay::cache::header_value(CacheStatus::Miss) == "MISS");
  CHECK(relay::cache::header_value(CacheStatus::Bypass) == "BYPASS");
  CHECK(relay::cache::metric_label(CacheStatus::Hit) == "hit");
  CHECK(relay::cache::metric_label(CacheStatus::Miss) == "miss");
  CHECK(relay::cache::metric_label(CacheStatus::Bypass) == "bypass");
}
