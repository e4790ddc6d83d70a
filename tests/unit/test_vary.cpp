// Vary: the normalized name list of a response and the secondary key that
// decides whether a later request selects the same stored variant.
#include <doctest/doctest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "header_pairs.hpp"
#include "relay/cache/vary.hpp"

using relay::cache::vary_key;
using relay::cache::vary_names;
using relay::http::Headers;

namespace {

using relay::test::headers;

}  // namespace

TEST_CASE("vary: names are lower-cased, sorted and de-duplicated (RFC 9111 4.1)") {
  struct Row {
    const char* label;
    Headers response;
    const char* names;
  };
  const Row rows[] = {
      {"no vary", headers({{"Content-Type", "text/html"}}), ""},
      {"empty vary", headers({{"Vary", ""}}), ""},
      {"only commas", headers({{"Vary", " , ,"}}), ""},
      {"one", headers({{"Vary", "Accept-Encoding"}}), "accept-encoding"},
      {"sorted", headers({{"Vary", "User-Agent, Accept-Encoding"}}),
       "accept-encoding,user-agent"},
      {"case and duplicates", headers({{"Vary", "accept-encoding, ACCEPT-ENCODING,Accept"}}),
       "accept,accept-encoding"},
      {"several lines", headers({{"Vary", "User-Agent"}, {"vary", "Accept"}}),
       "accept,user-agent"},
      {"whitespace", headers({{"Vary", " \tAccept ,  Origin\t"}}), "accept,origin"},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    CHECK(vary_names(r.response) == r.names);
  }
}

TEST_CASE("vary: Vary: * anywhere is \"*\" and never matches (RFC 9111 4.1, RFC 9110 12.5.5)") {
  for (const char* value : {"*", " * ", "Accept, *", "*, Accept"}) {
    CAPTURE(std::string(value));
    CHECK(vary_names(headers({{"Vary", value}})) == "*");
  }
  CHECK(vary_names(headers({{"Vary", "Accept"}, {"Vary", "*"}})) == "*");
  CHECK(vary_key("*", headers({{"Accept", "text/html"}})) == std::nullopt);
  CHECK(vary_key("accept,*", Headers{}) == std::nullopt);
}

TEST_CASE("vary: key is name=value joined by \\x1f, empty for no names (RFC 9111 4.1)") {
  const Headers request = headers({{"Accept-Encoding", "gzip"},
                                   {"User-Agent", "curl/8"},
                                   {"Host", "example.com"}});
  CHECK(vary_key("", request) == std::string());
  CHECK(vary_key("accept-encoding", request) == std::string("accept-encoding=gzip"));
  CHECK(vary_key("accept-encoding,user-agent", request) ==
        std::string("accept-encoding=gzip\x1fuser-agent=curl/8"));
}

TEST_CASE("vary: name order and case in the list do not change the key (RFC 9111 4.1)") {
  const Headers request = headers({{"accept-encoding", "gzip"}, {"USER-AGENT", "curl/8"}});
  const auto expected = vary_key("accept-encoding,user-agent", request);
  REQUIRE(expected);
  CHECK(vary_key("user-agent,accept-encoding", request) == expected);
  CHECK(vary_key("User-Agent, Accept-Encoding", request) == expected);
  CHECK(vary_key(vary_names(headers({{"Vary", "User-Agent, accept-encoding"}})), request) ==
        expected);
}

TEST_CASE("vary: an absent header differs from an empty one (RFC 9111 4.1)") {
  const auto absent = vary_key("accept-encoding", Headers{});
  const auto empty = vary_key("accept-encoding", headers({{"Accept-Encoding", ""}}));
  const auto blank = vary_key("accept-encoding", headers({{"Accept-Encoding", "  "}}));
  CHECK(absent == std::string("accept-encoding"));
  CHECK(empty == std::string("accept-encoding="));
  CHECK(blank == empty);
  CHECK(absent != empty);
}

TEST_CASE("vary: values are normalized for whitespace and field lines (RFC 9111 4.1, RFC 9110 5.3)") {
  struct Row {
    const char* label;
    Headers request;
    const char* key;
  };
  const Row rows[] = {
      {"plain", headers({{"X-List", "a, b"}}), "x-list=a,b"},
      {"no spaces", headers({{"X-List", "a,b"}}), "x-list=a,b"},
      {"spaces around commas", headers({{"X-List", "a ,\t b"}}), "x-list=a,b"},
      {"leading and trailing", headers({{"X-List", " \ta, b \t"}}), "x-list=a,b"},
      {"two lines", headers({{"X-List", "a"}, {"x-list", "b"}}), "x-list=a,b"},
      {"runs inside a value collapse", headers({{"X-List", "a;q=1,  b  ;  q=0.5"}}), "x-list=a;q=1,b ; q=0.5"},
      {"tab run", headers({{"X-List", "a\t \tb"}}), "x-list=a b"},
      {"case and order of values are kept", headers({{"X-List", "B, A"}}), "x-list=B,A"},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    CHECK(vary_key("x-list", r.request) == std::string(r.key));
  }
  // Different values stay different.
  CHECK(vary_key("x-list", headers({{"X-List", "a"}})) != vary_key("x-list", headers({{"X-List", "b"}})));
}

TEST_CASE("vary: Accept-Encoding and Accept-Language in canonical form (RFC 9111 4.1, RFC 9110 12.5.3, 12.5.4)") {
  auto key = [](const char* name, const std::vector<const char*>& lines) {
    Headers h;
    for (const char* line : lines) h.add(name, line);
    return vary_key(name, h);
  };
  struct Row {
    const char* label;
    std::vector<const char*> lines;
    const char* language;  // the canonical value
  };
  const Row rows[] = {
      {"plain", {"en, de"}, "de,en"},
      {"case and no spaces", {"EN,DE"}, "de,en"},
      {"order among equal weights", {"de, en"}, "de,en"},
      {"q=1 is the default", {"de;q=1, en"}, "de,en"},
      {"q=1.000 and Q=1", {"en;Q=1.000, de"}, "de,en"},
      {"whitespace around ';'", {"en ; q=0.5 ,de"}, "de,en;q=0.5"},
      {"by weight first", {"en;q=0.5, de"}, "de,en;q=0.5"},
      {"weight order", {"fr;q=0.2, de;q=0.9, en-US, en;q=0.90"}, "en-us,de;q=0.9,en;q=0.9,fr;q=0.2"},
      {"trailing zeros", {"fr;q=0.250"}, "fr;q=0.25"},
      {"q=0 is kept", {"*;q=0, en"}, "en,*;q=0"},
      {"q=0.000 is q=0", {"en;q=0.000"}, "en;q=0"},
      {"duplicates", {"en, EN, en;q=1"}, "en"},
      {"field lines combine", {"en", "de"}, "de,en"},
      {"empty elements", {", en,, de ,"}, "de,en"},
      {"empty", {""}, ""},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    CHECK(key("Accept-Language", r.lines) == "accept-language=" + std::string(r.language));
    CHECK(key("Accept-Encoding", r.lines) == "accept-encoding=" + std::string(r.language));
  }
  CHECK(key("Accept-Encoding", {"gzip, br"}) == key("Accept-Encoding", {"BR,gzip"}));
  CHECK(key("Accept-Encoding", {"gzip, br;q=0.5"}) != key("Accept-Encoding", {"gzip, br"}));
  CHECK(key("Accept-Encoding", {"gzip;q=0"}) != key("Accept-Encoding", {"gzip"}));

  // Outside the grammar: only whitespace is normalized, nothing is merged.
  const Row kept[] = {
      {"another parameter", {"en;level=1, de"}, "en;level=1,de"},
      {"a q above 1", {"en;q=1.5, de"}, "en;q=1.5,de"},
      {"four decimals", {"en;q=0.1234"}, "en;q=0.1234"},
      {"q without value", {"en;q=, de"}, "en;q=,de"},
      {"space in a token", {"E n, de"}, "E n,de"},
      {"quoted", {"\"en\", de"}, "\"en\",de"},
  };
  for (const auto& r : kept) {
    CAPTURE(std::string(r.label));
    CHECK(key("Accept-Language", r.lines) == "accept-language=" + std::string(r.language));
  }
  // Other fields keep their order and case.
  CHECK(key("Accept", {"text/html, application/json"}) != key("Accept", {"application/json, text/html"}));
}

TEST_CASE("vary: a crafted value cannot forge another header combination (RFC 9111 4.1)") {
  // Unescaped, both would be "a=x\x1fc=y\x1fc".
  const auto first = vary_key("a,c", headers({{"A", "x\x1f" "c=y"}}));
  const auto second = vary_key("a,c", headers({{"A", "x"}, {"C", "y\x1f" "c"}}));
  CHECK(first != second);
  CHECK(vary_key("accept", headers({{"Accept", "%1F"}})) !=
        vary_key("accept", headers({{"Accept", "\x1f"}})));
}
