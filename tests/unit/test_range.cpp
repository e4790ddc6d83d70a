// Range requests from a stored response: every byte-range form, the cases
// that fall back to the whole body or to 416, and If-Range.
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "header_pairs.hpp"
#include "relay/cache/range.hpp"

using relay::cache::ByteRange;
using relay::cache::content_range;
using relay::cache::evaluate_range;
using relay::cache::RangeOutcome;
using relay::cache::unsatisfied_range;
using relay::http::Headers;

namespace {

using relay::test::headers;

const char* name(RangeOutcome o) {
  switch (o) {
    case RangeOutcome::Full: return "Full";
    case RangeOutcome::Partial: return "Partial";
    case RangeOutcome::Unsatisfiable: return "Unsatisfiable";
  }
  return "?";
}

struct Row {
  const char* range;
  std::uint64_t size;
  RangeOutcome outcome;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

void check_rows(std::initializer_list<Row> rows, const Headers& extra = {},
                const Headers& stored = {}) {
  for (const auto& r : rows) {
    CAPTURE(std::string(r.range));
    CAPTURE(r.size);
    Headers request = extra;
    request.add("Range", r.range);
    auto d = evaluate_range(request, stored, r.size);
    CHECK(std::string(name(d.outcome)) == name(r.outcome));
    if (r.outcome == RangeOutcome::Partial) {
      CHECK(d.range.first == r.first);
      CHECK(d.range.last == r.last);
    }
  }
}

constexpr auto Full = RangeOutcome::Full;
constexpr auto Partial = RangeOutcome::Partial;
constexpr auto Unsatisfiable = RangeOutcome::Unsatisfiable;

constexpr const char* kModified = "Mon, 06 Nov 2023 08:00:00 GMT";
constexpr const char* kDateLater = "Tue, 07 Nov 2023 08:00:00 GMT";

}  // namespace

TEST_CASE("range: no Range header means the whole body (RFC 9110 14.2)") {
  auto d = evaluate_range(headers({{"Accept", "*/*"}}), Headers{}, 1000);
  CHECK(d.outcome == Full);
  // If-Range alone does nothing.
  d = evaluate_range(headers({{"If-Range", "\"v1\""}}), Headers{}, 1000);
  CHECK(d.outcome == Full);
}

TEST_CASE("range: int-range first-last, clamped to the end (RFC 9110 14.1.1)") {
  check_rows({
      {"bytes=0-99", 1000, Partial, 0, 99},
      {"bytes=0-0", 1000, Partial, 0, 0},
      {"bytes=500-999", 1000, Partial, 500, 999},
      {"bytes=999-999", 1000, Partial, 999, 999},
      {"bytes=990-2000", 1000, Partial, 990, 999},
      {"bytes=0-18446744073709551615", 1000, Partial, 0, 999},
      {"bytes=0-99999999999999999999999", 1000, Partial, 0, 999},  // saturates
      {"bytes=0-0", 1, Partial, 0, 0},
  });
}

TEST_CASE("range: open-ended int-range runs to the last byte (RFC 9110 14.1.1)") {
  check_rows({
      {"bytes=100-", 1000, Partial, 100, 999},
      {"bytes=0-", 1000, Partial, 0, 999},
      {"bytes=999-", 1000, Partial, 999, 999},
  });
}

TEST_CASE("range: suffix range beyond size returns the whole body (RFC 9110 14.1.2)") {
  check_rows({
      {"bytes=-500", 1000, Partial, 500, 999},
      {"bytes=-1", 1000, Partial, 999, 999},
      {"bytes=-1000", 1000, Partial, 0, 999},
      {"bytes=-5000", 1000, Partial, 0, 999},
      {"bytes=-99999999999999999999999", 1000, Partial, 0, 999},
  });
}

TEST_CASE("range: unsatisfiable ranges (RFC 9110 14.1.1, 15.5.17)") {
  check_rows({
      {"bytes=1000-", 1000, Unsatisfiable},
      {"bytes=1000-1999", 1000, Unsatisfiable},
      {"bytes=5000-6000", 1000, Unsatisfiable},
      {"bytes=99999999999999999999999-", 1000, Unsatisfiable},
      {"bytes=-0", 1000, Unsatisfiable},  // suffix-length 0 selects nothing
      {"bytes=0-", 0, Unsatisfiable},
      {"bytes=0-0", 0, Unsatisfiable},
      {"bytes=-0", 0, Unsatisfiable},
  });
}

TEST_CASE("range: empty body with a non-zero suffix sends the whole (empty) body (RFC 9110 14.1.1)") {
  // Satisfiable per §14.1.1 yet no bytes are selected; 206 cannot say that.
  check_rows({{"bytes=-5", 0, Full}});
}

TEST_CASE("range: multiple ranges are answered with the whole body (RFC 9110 14.2)") {
  check_rows({
      {"bytes=0-1,5-6", 1000, Full},
      {"bytes=0-1, 5-6, 9-", 1000, Full},
      {"bytes=-5,0-1", 1000, Full},
      {"bytes=0-1,5000-6000", 1000, Full},
      {"bytes=5000-6000,7000-", 1000, Full},
  });
  // Two Range field lines are two ranges too.
  auto d = evaluate_range(headers({{"Range", "bytes=0-1"}, {"Range", "bytes=5-6"}}), Headers{},
                          1000);
  CHECK(d.outcome == Full);
}

TEST_CASE("range: other units and invalid syntax are ignored (RFC 9110 14.1, 14.2)") {
  check_rows({
      {"items=0-5", 1000, Full},
      {"bytes", 1000, Full},
      {"bytes=", 1000, Full},
      {"bytes=-", 1000, Full},
      {"bytes=abc", 1000, Full},
      {"bytes=5", 1000, Full},
      {"bytes=10-5", 1000, Full},  // last-pos < first-pos
      {"bytes=a-5", 1000, Full},
      {"bytes=5-b", 1000, Full},
      {"bytes=+5-10", 1000, Full},
      {"bytes=-+5", 1000, Full},
      {"bytes=1-2-3", 1000, Full},
      {"bytes=0x10-20", 1000, Full},
      {"bytes=0-1,garbage", 1000, Full},
      {"=0-5", 1000, Full},
      {"", 1000, Full},
      {"bytes 0-5", 1000, Full},
  });
}

TEST_CASE("range: unit is case-insensitive and whitespace is tolerated (RFC 9110 14.1, 5.6.3)") {
  check_rows({
      {"Bytes=0-9", 1000, Partial, 0, 9},
      {"BYTES=0-9", 1000, Partial, 0, 9},
      {" bytes = 0 - 9 ", 1000, Partial, 0, 9},
      {"bytes=\t10-\t", 1000, Partial, 10, 999},
      {"bytes= - 10", 1000, Partial, 990, 999},
      {"bytes=0-9,", 1000, Partial, 0, 9},   // empty list elements are skipped
      {"bytes=, 0-9", 1000, Partial, 0, 9},
  });
}

TEST_CASE("range: If-Range with an entity-tag needs a strong match (RFC 9110 13.1.5)") {
  struct IfRow {
    const char* if_range;
    const char* stored_etag;  // nullptr = none
    RangeOutcome outcome;
  };
  const IfRow rows[] = {
      {"\"v1\"", "\"v1\"", Partial},
      {" \"v1\" ", "\"v1\"", Partial},
      {"\"v2\"", "\"v1\"", Full},
      {"W/\"v1\"", "\"v1\"", Full},  // weak validator never matches
      {"\"v1\"", "W/\"v1\"", Full},  // stored weak: no strong comparison
      {"W/\"v1\"", "W/\"v1\"", Full},
      {"\"v1\"", nullptr, Full},
      {"\"V1\"", "\"v1\"", Full},
      {"\"v1", "\"v1\"", Full},  // malformed
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.if_range));
    CAPTURE(std::string(r.stored_etag ? r.stored_etag : "(none)"));
    Headers stored = headers({{"Last-Modified", kModified}, {"Date", kDateLater}});
    if (r.stored_etag) stored.add("ETag", r.stored_etag);
    auto d = evaluate_range(headers({{"Range", "bytes=0-9"}, {"If-Range", r.if_range}}), stored,
                            1000);
    CHECK(std::string(name(d.outcome)) == name(r.outcome));
  }
}

TEST_CASE("range: If-Range with a date needs an exact strong Last-Modified (RFC 9110 13.1.5, 8.8.2.2)") {
  struct IfRow {
    const char* label;
    const char* if_range;
    const char* last_modified;  // nullptr = none
    const char* date;           // nullptr = none
    RangeOutcome outcome;
  };
  const IfRow rows[] = {
      {"exact", kModified, kModified, kDateLater, Partial},
      {"other format, same instant", "Monday, 06-Nov-23 08:00:00 GMT", kModified, kDateLater,
       Partial},
      {"one second later Date is enough", kModified, kModified, "Mon, 06 Nov 2023 08:00:01 GMT",
       Partial},
      {"later date", kDateLater, kModified, kDateLater, Full},
      {"earlier date", "Sun, 05 Nov 2023 08:00:00 GMT", kModified, kDateLater, Full},
      {"no Last-Modified", kModified, nullptr, kDateLater, Full},
      {"invalid If-Range date", "yesterday", kModified, kDateLater, Full},
      {"Date equal to Last-Modified: weak", kModified, kModified, kModified, Full},
      {"no Date: weak", kModified, kModified, nullptr, Full},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.label));
    Headers stored = headers({{"ETag", "\"v1\""}});
    if (r.last_modified) stored.add("Last-Modified", r.last_modified);
    if (r.date) stored.add("Date", r.date);
    auto d = evaluate_range(headers({{"Range", "bytes=0-9"}, {"If-Range", r.if_range}}), stored,
                            1000);
    CHECK(std::string(name(d.outcome)) == name(r.outcome));
  }
}

TEST_CASE("range: a failed If-Range turns 416 into the whole body (RFC 9110 13.2.2)") {
  const Headers stored = headers({{"ETag", "\"v1\""}});
  check_rows({{"bytes=5000-", 1000, Full}}, headers({{"If-Range", "\"v2\""}}), stored);
  check_rows({{"bytes=5000-", 1000, Unsatisfiable}}, headers({{"If-Range", "\"v1\""}}), stored);
}

TEST_CASE("range: Content-Range field values (RFC 9110 14.4)") {
  CHECK(content_range(ByteRange{0, 99}, 1000) == "bytes 0-99/1000");
  CHECK(content_range(ByteRange{999, 999}, 1000) == "bytes 999-999/1000");
  CHECK(unsatisfied_range(1000) == "bytes */1000");
  CHECK(unsatisfied_range(0) == "bytes */0");
  CHECK(ByteRange{0, 99}.length() == 100);
  CHECK(ByteRange{5, 5}.length() == 1);
}

TEST_CASE("range: the strong validator that lets one response continue another (RFC 9110 8.8, 13.1.5)") {
  using relay::cache::strong_validator;
  CHECK(strong_validator(headers({{"ETag", "\"v1\""}})) == "\"v1\"");
  CHECK(strong_validator(headers({{"ETag", " \"v1\" "}})) == "\"v1\"");
  // Weak tags name a meaning, not these bytes.
  CHECK_FALSE(strong_validator(headers({{"ETag", "W/\"v1\""}})));
  CHECK_FALSE(strong_validator(headers({{"ETag", "v1"}})));
  // Last-Modified is strong only when Date is a second or more later (8.8.2.2).
  const char* modified = "Sun, 06 Nov 1994 08:49:37 GMT";
  CHECK(strong_validator(headers({{"Last-Modified", modified}, {"Date", "Sun, 06 Nov 1994 08:49:38 GMT"}})) ==
        modified);
  CHECK_FALSE(strong_validator(headers({{"Last-Modified", modified}, {"Date", modified}})));
  CHECK_FALSE(strong_validator(headers({{"Last-Modified", modified}})));
  // A weak ETag does not hide a strong Last-Modified.
  CHECK(strong_validator(headers({{"ETag", "W/\"v1\""},
                                  {"Last-Modified", modified},
                                  {"Date", "Mon, 07 Nov 1994 08:49:37 GMT"}})) == modified);
  CHECK_FALSE(strong_validator(Headers{}));
}
