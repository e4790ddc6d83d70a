// Buffers the request path recycles so that a hit allocates nothing: header
// fields (spares within a Headers, and a per-thread stash of dropped ones),
// cache keys, and the ThreadStash both are built on. A freed buffer that
// malloc hands straight back would pass a "same address" check by chance,
// so each check first parks a same-sized block where malloc would look.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "relay/cache/key.hpp"
#include "relay/cache/target.hpp"
#include "relay/http/headers.hpp"
#include "relay/util/string_stash.hpp"
#include "relay/util/thread_stash.hpp"

using relay::http::Headers;

namespace {

std::string long_value(std::size_t n, char c) { return std::string(n, c); }

std::vector<std::pair<std::string, std::string>> pairs(const Headers& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : h) out.emplace_back(f.name, f.value);
  return out;
}

struct TestTag {};

std::size_t again_size() { return std::string("http://shop.example.test/a/rather/long/path/to/a/product").size(); }

}  // namespace

TEST_CASE("headers: removed and cleared fields lend their buffers to the next copies") {
  Headers h;
  h.add_copy("Date", long_value(29, 'd'));
  h.add_copy("X-Long", long_value(40, 'x'));
  const char* x_buffer = h.get("x-long")->data();
  CHECK(h.remove("X-Long") == 1);
  CHECK(h.size() == 1);
  CHECK_FALSE(h.contains("x-long"));
  std::string parked = long_value(40, 'p');  // where malloc would look first
  h.add_copy("X-Other", long_value(35, 'o'));
  CHECK(h.get("x-other")->data() == x_buffer);
  CHECK(*h.get("x-other") == long_value(35, 'o'));

  h.clear();
  CHECK(h.empty());
  CHECK(h.begin() == h.end());
  h.add_copy("A", "1");
  CHECK(pairs(h) == std::vector<std::pair<std::string, std::string>>{{"A", "1"}});
}

TEST_CASE("headers: set_copy keeps the first field's place and drops the others; spares are never seen") {
  Headers h;
  h.add("Via", "1.0 a");
  h.add("Other", "x");
  h.add("via", "1.0 b");
  h.set_copy("Via", "1.0 a, 1.0 b, 1.1 relay");
  CHECK(pairs(h) == std::vector<std::pair<std::string, std::string>>{{"Via", "1.0 a, 1.0 b, 1.1 relay"}, {"Other", "x"}});
  CHECK(h.get_combined("via") == "1.0 a, 1.0 b, 1.1 relay");
  h.set_copy("New", "v");
  CHECK(h.size() == 3);

  // Equality, copies and moves see the fields only, not the spares.
  Headers same;
  same.add("Via", "1.0 a, 1.0 b, 1.1 relay");
  same.add("Other", "x");
  same.add("New", "v");
  CHECK(h == same);
  Headers copy = h;
  CHECK(copy == h);
  Headers target;
  for (char c = 'a'; c < 'k'; ++c) target.add_copy(std::string(1, c), long_value(20, 'f'));
  target.clear();
  target = h;  // into a Headers holding spares
  CHECK(target == h);
  CHECK(target.size() == 3);
  Headers moved = std::move(copy);
  CHECK(moved == h);
  CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): a moved-from Headers is empty
  copy.add("Reused", "yes");
  CHECK(copy.size() == 1);
}

TEST_CASE("headers: add_copy of a view into its own fields survives the vector growing") {
  Headers h;
  h.add("Short", "abc");  // inline in the field, which moves when the vector grows
  for (int i = 0; i < 200; ++i) {
    const auto& first = *h.begin();
    h.add_copy(first.name, first.value);
  }
  CHECK(h.size() == 201);
  for (const auto& f : h) {
    CHECK(f.name == "Short");
    CHECK(f.value == "abc");
  }
  h.set_copy("Short", *h.get("short"));
  CHECK(h.size() == 1);
  CHECK(*h.get("short") == "abc");
}

TEST_CASE("headers: a dropped Headers hands its fields to the next one made on the thread") {
  const char* buffer = nullptr;
  {
    Headers first;
    first.reserve(8);
    first.add_copy("Last-Modified", long_value(29, 'l'));
    buffer = first.get("last-modified")->data();
  }
  std::string parked = long_value(29, 'p');  // where malloc would look first
  Headers next;
  next.reserve(8);
  next.add_copy("Date", long_value(29, 'd'));
  CHECK(next.get("date")->data() == buffer);
  CHECK(*next.get("date") == long_value(29, 'd'));
  CHECK(next.size() == 1);

  // Threads that make and drop Headers exit cleanly: what they kept is
  // freed when they end (the sanitizer build's leak check holds this).
  std::thread worker([] {
    for (int i = 0; i < 20; ++i) {
      Headers h;
      h.add_copy("X", long_value(100, 'x'));
    }
  });
  worker.join();
}

TEST_CASE("headers: oversized strings and field lists are not kept") {
  const char* big = nullptr;
  {
    Headers h;
    h.add_copy("Content-Security-Policy", long_value(4000, 'c'));
    big = h.get("content-security-policy")->data();
  }
  std::string parked = long_value(4000, 'p');
  Headers next;
  next.add_copy("Content-Security-Policy", long_value(4000, 'n'));
  CHECK(next.get("content-security-policy")->data() != big);
}

TEST_CASE("ThreadStash: bounded, last in first out, per thread") {
  using Stash = relay::util::ThreadStash<std::string, 2, TestTag>;
  std::string none;
  CHECK_FALSE(Stash::take(none));
  std::string a = long_value(50, 'a'), b = long_value(50, 'b'), c = long_value(50, 'c');
  const char* b_buffer = b.data();
  Stash::give(a);
  Stash::give(b);
  CHECK(a.empty());
  CHECK(b.empty());
  Stash::give(c);  // full: c keeps its buffer
  CHECK(c == long_value(50, 'c'));
  std::thread other([] {
    std::string s;
    CHECK_FALSE(Stash::take(s));  // another thread's stash is its own
  });
  other.join();
  std::string got;
  REQUIRE(Stash::take(got));
  CHECK(got.data() == b_buffer);
  CHECK(got == long_value(50, 'b'));
  std::string second;
  REQUIRE(Stash::take(second));
  CHECK(second == long_value(50, 'a'));
  CHECK_FALSE(Stash::take(none));
}

TEST_CASE("make_key builds in the buffer of a string given back") {
  relay::config::CacheKeyConfig cfg;
  relay::http::Headers headers;
  headers.add("Host", "shop.example.test");
  auto normalized = relay::cache::normalize_target("/a/rather/long/path/to/a/product", headers);
  REQUIRE(normalized.ok);
  auto key = relay::cache::make_key(normalized.target, headers, cfg);
  CHECK(key.primary == "http://shop.example.test/a/rather/long/path/to/a/product");
  const char* buffer = key.primary.data();
  relay::util::recycle_string(key.primary);
  std::string parked = long_value(again_size(), 'p');
  auto again = relay::cache::make_key(normalized.target, headers, cfg);
  CHECK(again.primary == "http://shop.example.test/a/rather/long/path/to/a/product");
  CHECK(again.primary.data() == buffer);
}

TEST_CASE("recycled strings: a list and its strings go back together, a guard gives them back at scope end") {
  const char* tag_buffer = nullptr;
  {
    auto tags = relay::util::recycled_strings();
    tags.push_back(long_value(30, 't'));
    tag_buffer = tags.front().data();
    const relay::util::RecycleStringsOnExit guard(tags);
  }
  std::string parked = long_value(30, 'p');  // where malloc would look first
  auto again = relay::util::recycled_strings();
  CHECK(again.empty());
  CHECK(again.capacity() >= 1);
  again.push_back(relay::util::recycled_string());
  again.back().append(long_value(20, 'n'));
  CHECK(again.back().data() == tag_buffer);
  relay::util::recycle_strings(again);
  CHECK(again.empty());
}
