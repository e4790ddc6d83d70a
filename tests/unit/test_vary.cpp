// Vary: the normalized name list of a response and the secondary key that
// decides whether a later request selects the same stored variant.
#include <doctest/doctest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "relay/cache/vary.hpp"

using relay::cache::vary_key;
using relay::cache::vary_names;
using relay::http::Headers;

namespace {

Headers headers(std::initializer_list<std::pair<const char*, const char*>> fields) {
  Headers h;
  for (const auto& [name, value] : fields) h.add(name, value);
  return h;
}

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
      {"plain", headers({{"Accept-Encoding", "gzip, br"}}), "accept-encoding=gzip,br"},
      {"no spaces", headers({{"Accept-Encoding", "gzip,br"}}), "accept-encoding=gzip,br"},
      {"spaces around commas", headers({{"Accept-Encoding", "gzip ,\t br"}}),
       "accept-encoding=gzip,br"},
      {"leading and trailing", headers({{"Accept-Encoding", " \tgzip, br \t"}}),
       "accept-encoding=gzip,br"},
      {"two lines", headers({{"Accept-Encoding", "gzip"}, {"accept-encoding", "br"}}),
       "accept-encoding=gzip,br"},
      {"runs inside a value collapse", headers({{"Accept-Encoding", "gzip;q=1,  br  ;  q=0.5"}}),
       "accept-encoding=gzip;q=1,br ; q=0.5"},
      {"tab run", headers({{"Accept-Encoding", "a\t \tb"}}), "accept-encoding=a b"},
      {"case of values is kept", headers({{"Accept-Encoding", "GZIP"}}),
       "accept-encoding=GZIP"},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    CHECK(vary_key("accept-encoding", r.request) == std::string(r.key));
  }
  // Different values stay different.
  CHECK(vary_key("accept-encoding", headers({{"Accept-Encoding", "gzip"}})) !=
        vary_key("accept-encoding", headers({{"Accept-Encoding", "br"}})));
}

TEST_CASE("vary: a crafted value cannot forge another header combination (RFC 9111 4.1)") {
  // Unescaped, both would be "a=x\x1fc=y\x1fc".
  const auto first = vary_key("a,c", headers({{"A", "x\x1f" "c=y"}}));
  const auto second = vary_key("a,c", headers({{"A", "x"}, {"C", "y\x1f" "c"}}));
  CHECK(first != second);
  CHECK(vary_key("accept", headers({{"Accept", "%1F"}})) !=
        vary_key("accept", headers({{"Accept", "\x1f"}})));
}
