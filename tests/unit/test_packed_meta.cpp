// The memory store's packed metadata: every part of an EntryMeta comes back
// byte for byte, whatever form its fields take, and a typical head packs
// into about half the bytes it has on the wire.
#include <doctest/doctest.h>

#include "relay/storage/packed_meta.hpp"

using namespace relay;
using namespace relay::storage;

namespace {

EntryMeta round_trip(const EntryMeta& meta) {
  std::string packed;
  pack_meta(meta, packed);
  return unpack_meta(packed);
}

void check_same(const EntryMeta& a, const EntryMeta& b) {
  CHECK(a.status == b.status);
  CHECK(a.reason == b.reason);
  REQUIRE(a.headers.size() == b.headers.size());
  auto it = b.headers.begin();
  for (const auto& field : a.headers) {
    CHECK(field.name == it->name);
    CHECK(field.value == it->value);
    ++it;
  }
  CHECK(a.request_time == b.request_time);
  CHECK(a.response_time == b.response_time);
  CHECK(a.body_size == b.body_size);
  CHECK(a.keep_for == b.keep_for);
  CHECK(a.internal == b.internal);
}

EntryMeta nginx_head() {
  EntryMeta meta;
  meta.status = 200;
  meta.reason = "OK";
  meta.headers.add("Server", "nginx/1.22.1");
  meta.headers.add("Date", "Mon, 07 Dec 2026 13:25:59 GMT");
  meta.headers.add("Content-Type", "application/octet-stream");
  meta.headers.add("Last-Modified", "Mon, 07 Dec 2026 13:25:58 GMT");
  meta.headers.add("ETag", "\"6755c9a6-400\"");
  meta.headers.add("Cache-Control", "max-age=3600");
  meta.headers.add("Accept-Ranges", "bytes");
  meta.request_time = SysTime{std::chrono::nanoseconds{1'796'650'000'123'456'789}};
  meta.response_time = meta.request_time + std::chrono::microseconds{250};
  meta.body_size = 1024;
  meta.keep_for = std::chrono::seconds{3600 + 86400};
  return meta;
}

}  // namespace

TEST_CASE("packed meta: a typical head round-trips in under 60% of its wire size") {
  const auto meta = nginx_head();
  check_same(meta, round_trip(meta));
  std::string packed;
  pack_meta(meta, packed);
  std::size_t wire = 0;
  for (const auto& f : meta.headers) wire += f.name.size() + 2 + f.value.size() + 2;
  CAPTURE(packed.size());
  CHECK(packed.size() < wire * 6 / 10);
}

TEST_CASE("packed meta: names in any spelling and values in any form come back as they were") {
  EntryMeta meta;
  meta.status = 404;
  meta.reason = "Not Found Here";
  meta.headers.add("content-type", "text/html");             // a well-known name in lower case
  meta.headers.add("CONTENT-TYPE", "text/plain");            // neither spelling: written out
  meta.headers.add("X-Custom", "");                          // an empty value
  meta.headers.add("Date", "Sun, 06 Nov 1994 08:49:37 GMT");  // packed
  meta.headers.add("Expires", "Sunday, 06-Nov-94 08:49:37 GMT");  // RFC 850 form: kept as text
  meta.headers.add("Last-Modified", "Mon, 06 Nov 1994 08:49:37 GMT");  // wrong weekday: kept as text
  meta.headers.add("X-Date", "Thu, 29 Feb 2024 23:59:59 GMT");        // any field's date packs
  meta.headers.add("X-Not-A-Date", "Fri, 30 Feb 2024 10:00:00 GMT");  // no such day
  meta.headers.add("X-Old", "Sat, 01 Jan 0999 00:00:00 GMT");         // before year 1000
  meta.headers.add("X-Lower", "sun, 06 nov 1994 08:49:37 gmt");
  meta.headers.add("Set-Cookie", "a=1");
  meta.headers.add("Set-Cookie", "b=2");
  meta.headers.add("X-Binary", std::string("a\0b\xff", 4));
  meta.headers.add("X-Long", std::string(100'000, 'v'));
  meta.keep_for = std::chrono::seconds{0};
  check_same(meta, round_trip(meta));
}

TEST_CASE("packed meta: internal facts round-trip, present or absent") {
  auto meta = nginx_head();
  SUBCASE("none") {}
  SUBCASE("zstd with a raw size and a pending writer") {
    meta.internal.encoding = BodyEncoding::zstd;
    meta.internal.raw_size = 123'456'789'012ULL;
    meta.internal.pending_writer = 42;
  }
  SUBCASE("a raw size of zero") { meta.internal.raw_size = 0; }
  SUBCASE("a vary index") {
    meta.internal.kind = EntryKind::vary_index;
    meta.internal.vary.names = "accept-encoding, accept-language";
    meta.internal.vary.generation = "0f3a9c";
  }
  SUBCASE("tags and a stale mark") {
    meta.internal.tags = {"product-1", "", "category-9"};
    meta.internal.stale_at = SysTime{std::chrono::nanoseconds{1'796'650'001'000'000'000}};
  }
  SUBCASE("times before the epoch") {
    meta.request_time = SysTime{std::chrono::seconds{-86400}};
    meta.response_time = SysTime{};
  }
  check_same(meta, round_trip(meta));
}
