// Validation: the validators sent to the origin, freshening from a 304, and
// answering a client's If-None-Match / If-Modified-Since from the cache.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "header_pairs.hpp"
#include "relay/cache/validation.hpp"

using relay::cache::answer_not_modified;
using relay::cache::freshen;
using relay::cache::not_modified_fields;
using relay::cache::parse_entity_tag;
using relay::cache::validators_for;
using relay::http::Headers;

namespace {

using Lines = std::vector<std::pair<std::string, std::string>>;

using relay::test::headers;

Lines lines(const Headers& h) {
  Lines out;
  for (const auto& f : h) out.emplace_back(f.name, f.value);
  return out;
}

constexpr const char* kMonday = "Mon, 06 Nov 2023 08:00:00 GMT";
constexpr const char* kTuesday = "Tue, 07 Nov 2023 08:00:00 GMT";
constexpr const char* kWednesday = "Wed, 08 Nov 2023 08:00:00 GMT";

}  // namespace

TEST_CASE("validation: entity-tag syntax (RFC 9110 8.8.3)") {
  struct Row {
    const char* text;
    bool valid;
    bool weak;
    const char* opaque;
  };
  const Row rows[] = {
      {"\"v1\"", true, false, "\"v1\""},
      {"W/\"v1\"", true, true, "\"v1\""},
      {" \t\"v1\" ", true, false, "\"v1\""},
      {"\"\"", true, false, "\"\""},
      {"W/\"\"", true, true, "\"\""},
      {"\"a,b\"", true, false, "\"a,b\""},
      {"v1", false, false, ""},
      {"\"v1", false, false, ""},
      {"\"", false, false, ""},
      {"w/\"v1\"", false, false, ""},  // the weak indicator is case-sensitive
      {"W/v1", false, false, ""},
      {"\"a\"b\"", false, false, ""},
      {"", false, false, ""},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.text));
    auto tag = parse_entity_tag(r.text);
    REQUIRE(tag.has_value() == r.valid);
    if (!tag) continue;
    CHECK(tag->weak == r.weak);
    CHECK(tag->opaque == r.opaque);
  }
}

TEST_CASE("validation: validators from stored ETag and Last-Modified (RFC 9111 4.3.1)") {
  struct Row {
    const char* label;
    Headers stored;
    Lines expected;
  };
  const Row rows[] = {
      {"both", headers({{"ETag", "\"v1\""}, {"Last-Modified", kMonday}}),
       {{"If-None-Match", "\"v1\""}, {"If-Modified-Since", kMonday}}},
      {"weak etag as is", headers({{"ETag", "W/\"v1\""}}), {{"If-None-Match", "W/\"v1\""}}},
      {"last-modified only", headers({{"Last-Modified", kMonday}}),
       {{"If-Modified-Since", kMonday}}},
      {"invalid last-modified dropped",
       headers({{"ETag", "\"v1\""}, {"Last-Modified", "yesterday"}}),
       {{"If-None-Match", "\"v1\""}}},
      {"neither", headers({{"Content-Type", "text/plain"}, {"Date", kMonday}}), {}},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    CHECK(lines(validators_for(r.stored)) == r.expected);
  }
}

TEST_CASE("validation: freshen replaces fields named in the 304 (RFC 9111 4.3.4)") {
  const Headers stored = headers({{"Date", kMonday},
                                  {"Cache-Control", "max-age=60"},
                                  {"Content-Type", "text/html"},
                                  {"Content-Length", "1234"},
                                  {"ETag", "\"v1\""},
                                  {"X-Multi", "a"},
                                  {"x-multi", "b"},
                                  {"X-Kept", "k"}});
  const Headers not_modified = headers({{"date", kTuesday},
                                        {"Cache-Control", "max-age=120"},
                                        {"X-Multi", "c"},
                                        {"X-New", "n"}});
  const Lines expected = {{"Content-Type", "text/html"},  {"Content-Length", "1234"},
                          {"ETag", "\"v1\""},             {"X-Kept", "k"},
                          {"date", kTuesday},             {"Cache-Control", "max-age=120"},
                          {"X-Multi", "c"},               {"X-New", "n"}};
  CHECK(lines(freshen(stored, not_modified)) == expected);
}

TEST_CASE("validation: freshen never takes body or hop-by-hop fields from a 304 (RFC 9111 4.3.4)") {
  const Headers stored = headers({{"Content-Length", "1234"},
                                  {"Content-Type", "text/html"},
                                  {"Content-Encoding", "gzip"},
                                  {"Content-Range", "bytes 0-1233/1234"},
                                  {"ETag", "\"v1\""}});
  const Headers not_modified = headers({{"Content-Length", "0"},
                                        {"content-type", "text/plain"},
                                        {"Content-Encoding", "br"},
                                        {"Content-Range", "bytes */1"},
                                        {"Transfer-Encoding", "chunked"},
                                        {"Connection", "close, X-Hop"},
                                        {"Keep-Alive", "timeout=5"},
                                        {"X-Hop", "1"},
                                        {"ETag", "\"v2\""}});
  const Lines expected = {{"Content-Length", "1234"},
                          {"Content-Type", "text/html"},
                          {"Content-Encoding", "gzip"},
                          {"Content-Range", "bytes 0-1233/1234"},
                          {"ETag", "\"v2\""}};
  CHECK(lines(freshen(stored, not_modified)) == expected);
  // An empty 304 leaves the stored fields untouched.
  CHECK(lines(freshen(stored, Headers{})) == lines(stored));
}

TEST_CASE("validation: If-None-Match weak comparison (RFC 9110 13.1.2)") {
  struct Row {
    const char* inm;
    const char* stored_etag;  // nullptr = none
    bool not_modified;
  };
  const Row rows[] = {
      {"\"v1\"", "\"v1\"", true},
      {"\"v1\"", "W/\"v1\"", true},
      {"W/\"v1\"", "\"v1\"", true},
      {"W/\"v1\"", "W/\"v1\"", true},
      {"\"v2\"", "\"v1\"", false},
      {"\"V1\"", "\"v1\"", false},  // opaque-tags compare exactly
      {"\"a\", \"v1\", \"b\"", "\"v1\"", true},
      {"\"a\",W/\"v1\"", "\"v1\"", true},
      {"\"a\", \"b\"", "\"v1\"", false},
      {"\"a,v1\"", "\"v1\"", false},  // a comma inside quotes is not a list separator
      {"\"a,v1\"", "\"a,v1\"", true},
      {"*", "\"v1\"", true},
      {"*", nullptr, true},  // "*" matches any current representation
      {"\"v1\"", nullptr, false},
      {"v1", "v1", false},  // not entity-tags
      {"w/\"v1\"", "\"v1\"", false},  // the weak indicator is case-sensitive
      {"", "\"v1\"", false},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.inm));
    CAPTURE(std::string(r.stored_etag ? r.stored_etag : "(none)"));
    Headers stored = headers({{"Date", kMonday}});
    if (r.stored_etag) stored.add("ETag", r.stored_etag);
    const Headers request = headers({{"If-None-Match", r.inm}});
    CHECK(answer_not_modified(request, stored, 200) == r.not_modified);
  }
}

TEST_CASE("validation: If-None-Match on several field lines (RFC 9110 5.3, 13.1.2)") {
  Headers request;
  request.add("If-None-Match", "\"a\"");
  request.add("if-none-match", "\"v1\"");
  CHECK(answer_not_modified(request, headers({{"ETag", "\"v1\""}}), 200));
}

TEST_CASE("validation: If-Modified-Since against Last-Modified or Date (RFC 9110 13.1.3)") {
  struct Row {
    const char* label;
    const char* ims;
    const char* last_modified;  // nullptr = none
    const char* date;           // nullptr = none
    bool not_modified;
  };
  const Row rows[] = {
      {"equal", kTuesday, kTuesday, kWednesday, true},
      {"modified before", kTuesday, kMonday, kWednesday, true},
      {"modified after", kMonday, kTuesday, kWednesday, false},
      {"no last-modified: Date earlier", kWednesday, nullptr, kTuesday, true},
      {"no last-modified: Date later", kMonday, nullptr, kTuesday, false},
      {"invalid last-modified falls back to Date", kWednesday, "garbage", kTuesday, true},
      {"neither", kWednesday, nullptr, nullptr, false},
      {"invalid IMS is ignored", "not a date", kMonday, kMonday, false},
      {"empty IMS is ignored", "", kMonday, kMonday, false},
      {"rfc850 IMS", "Tuesday, 07-Nov-23 08:00:00 GMT", kMonday, kWednesday, true},
      {"asctime IMS", "Tue Nov  7 08:00:00 2023", kMonday, kWednesday, true},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    Headers stored;
    if (r.last_modified) stored.add("Last-Modified", r.last_modified);
    if (r.date) stored.add("Date", r.date);
    const Headers request = headers({{"If-Modified-Since", r.ims}});
    CHECK(answer_not_modified(request, stored, 200) == r.not_modified);
  }
}

TEST_CASE("validation: If-None-Match takes precedence over If-Modified-Since (RFC 9110 13.2.2)") {
  const Headers stored = headers({{"ETag", "\"v1\""}, {"Last-Modified", kMonday}});
  // A failing If-None-Match is not rescued by a passing If-Modified-Since.
  CHECK_FALSE(answer_not_modified(
      headers({{"If-None-Match", "\"v2\""}, {"If-Modified-Since", kWednesday}}), stored, 200));
  // A passing If-None-Match wins over a failing If-Modified-Since.
  CHECK(answer_not_modified(
      headers({{"If-Modified-Since", "Sun, 01 Jan 2023 00:00:00 GMT"}, {"If-None-Match", "\"v1\""}}),
      stored, 200));
}

TEST_CASE("validation: only a stored 200 is answered with 304 (RFC 9110 15.4.5)") {
  const Headers stored = headers({{"ETag", "\"v1\""}, {"Last-Modified", kMonday}});
  for (int status : {200, 203, 204, 206, 301, 404}) {
    CAPTURE(status);
    CHECK(answer_not_modified(headers({{"If-None-Match", "\"v1\""}}), stored, status) ==
          (status == 200));
    CHECK(answer_not_modified(headers({{"If-Modified-Since", kTuesday}}), stored, status) ==
          (status == 200));
  }
  // No conditional at all: the full response.
  CHECK_FALSE(answer_not_modified(headers({{"Accept", "*/*"}}), stored, 200));
}

TEST_CASE("validation: a 304 carries the stored fields minus body-describing ones (RFC 9110 15.4.5)") {
  const Headers stored = headers({{"Date", kMonday},
                                  {"Content-Type", "text/html"},
                                  {"Content-Length", "1234"},
                                  {"content-encoding", "gzip"},
                                  {"Content-Range", "bytes 0-1233/1234"},
                                  {"Transfer-Encoding", "chunked"},
                                  {"ETag", "\"v1\""},
                                  {"Last-Modified", kMonday},
                                  {"Cache-Control", "max-age=60"},
                                  {"Expires", kTuesday},
                                  {"Vary", "Accept-Encoding"},
                                  {"Content-Location", "/a.html"},
                                  {"X-Custom", "1"}});
  const Lines expected = {{"Date", kMonday},
                          {"ETag", "\"v1\""},
                          {"Last-Modified", kMonday},
                          {"Cache-Control", "max-age=60"},
                          {"Expires", kTuesday},
                          {"Vary", "Accept-Encoding"},
                          {"Content-Location", "/a.html"},
                          {"X-Custom", "1"}};
  CHECK(lines(not_modified_fields(stored)) == expected);
}
