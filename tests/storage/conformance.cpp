// The Storage contract (storage.hpp), one set of cases run against every
// backend: memory, disk, redis, memory+disk and zstd over disk. Each case
// is a doctest template named "conformance: ...<backend>", so one backend
// is selected with  storage_tests -tc='conformance*<disk>*'.
#include <algorithm>

#include "support.hpp"

using namespace relay;
using namespace relay::storage;
using namespace relay::storage::test;

namespace {

using Steady = std::chrono::steady_clock;


std::vector<std::pair<std::string, std::string>> fields(const http::Headers& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : h) out.emplace_back(f.name, f.value);
  return out;
}

// Times may be stored at any precision down to a second.
bool close_in_time(SysTime a, SysTime b) {
  auto d = a > b ? a - b : b - a;
  return d <= std::chrono::seconds(1);
}

}  // namespace

TEST_CASE_TEMPLATE("conformance: a key never stored is a miss", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  auto hit = env.run(env.store().get("never/stored"));
  REQUIRE_MESSAGE(hit.has_value(), hit.error().message());
  CHECK_FALSE(hit->has_value());

  auto removed = env.run(env.store().remove("never/stored"));
  REQUIRE_MESSAGE(removed.has_value(), removed.error().message());
  CHECK_FALSE(*removed);

  // Updating the head of nothing must not create an entry.
  (void)env.run(env.store().update_meta("never/stored", text_meta("ghost")));
  CHECK(is_miss(env, "never/stored"));
}

TEST_CASE_TEMPLATE("conformance: put, commit, get returns the meta and the body", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  const auto now = std::chrono::system_clock::now();

  // Multi-chunk, every byte value, written in odd pieces.
  const std::string body = random_body(300'001, 11);
  auto meta = text_meta("v1", body.size(), std::chrono::seconds(3600));
  meta.reason = "Fine";
  meta.headers.add("X-Dup", "a");
  meta.headers.add("X-Dup", "b");
  meta.headers.add("ETag", "\"abc\"");
  meta.headers.add("X-Empty", "");
  meta.headers.add("X-Utf8", "caf\xc3\xa9");
  meta.request_time = now - std::chrono::seconds(2);
  meta.response_time = now - std::chrono::seconds(1);
  must_put(env, "big", meta, body);

  auto got = must_fetch(env, "big");
  REQUIRE(got.has_value());
  CHECK(got->meta.status == 200);
  CHECK(got->meta.reason == "Fine");
  CHECK(fields(got->meta.headers) == fields(meta.headers));
  CHECK(close_in_time(got->meta.request_time, meta.request_time));
  CHECK(close_in_time(got->meta.response_time, meta.response_time));
  CHECK(got->meta.keep_for == std::chrono::seconds(3600));
  CHECK(got->meta.body_size == body.size());
  CHECK_BODY(got->body, body);

  // A stored error page and an empty body.
  EntryMeta not_found = text_meta("nf", 4);
  not_found.status = 404;
  not_found.reason = "Not Found";
  must_put(env, "gone", not_found, "gone");
  EntryMeta empty = text_meta("empty", 0);
  empty.status = 204;
  empty.reason = "No Content";
  must_put(env, "empty", empty, "");

  auto nf = must_fetch(env, "gone");
  REQUIRE(nf.has_value());
  CHECK(nf->meta.status == 404);
  CHECK(nf->meta.reason == "Not Found");
  CHECK(nf->body == "gone");
  auto e = must_fetch(env, "empty");
  REQUIRE(e.has_value());
  CHECK(e->meta.status == 204);
  CHECK(e->meta.body_size == 0);
  CHECK(e->body.empty());

  // A get is not a use-once: the same entry reads again.
  auto again = must_fetch(env, "big");
  REQUIRE(again.has_value());
  CHECK_BODY(again->body, body);

  if (traits(T::kind).local_stats) {
    CHECK(env.store().stats().entries == 3);
    if (T::kind != Kind::zstd_disk) CHECK(env.store().stats().size_bytes >= body.size() + 4);
  }
}

TEST_CASE_TEMPLATE("conformance: a writer dropped without commit leaves no trace", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  const std::string partial = random_body(100'000, 21);

  // A fresh key: written to, then dropped.
  auto dropped = env.run([&]() -> asio::awaitable<Result<void>> {
    auto writer = co_await env.store().put("fresh", text_meta("v1", 300'000));
    if (!writer) co_return writer.error();
    for (std::size_t i = 0; i < partial.size(); i += 25'000) {
      if (auto r = co_await (*writer)->write(std::span<const char>(partial.data() + i, 25'000)); !r)
        co_return r.error();
    }
    co_return Result<void>{};  // the writer dies here, uncommitted
  }());
  REQUIRE_MESSAGE(dropped.has_value(), dropped.error().message());
  CHECK(is_miss(env, "fresh"));

  // A writer never written to.
  auto untouched = env.run([&]() -> asio::awaitable<Result<void>> {
    auto writer = co_await env.store().put("untouched", text_meta("v1", 10));
    if (!writer) co_return writer.error();
    co_return Result<void>{};
  }());
  REQUIRE_MESSAGE(untouched.has_value(), untouched.error().message());
  CHECK(is_miss(env, "untouched"));
  auto removed = env.run(env.store().remove("fresh"));
  REQUIRE(removed.has_value());
  CHECK_FALSE(*removed);

  if (traits(T::kind).local_stats) {
    CHECK(env.store().stats().entries == 0);
    CHECK(env.store().stats().size_bytes == 0);
  }

  // A replacement dropped: the old entry stays, whole.
  const std::string old_body = random_body(120'000, 22);
  must_put(env, "kept", text_meta("old", old_body.size()), old_body);
  auto replaced = env.run([&]() -> asio::awaitable<Result<void>> {
    auto writer = co_await env.store().put("kept", text_meta("new", 300'000));
    if (!writer) co_return writer.error();
    co_return co_await (*writer)->write(std::span<const char>(partial.data(), partial.size()));
  }());
  REQUIRE_MESSAGE(replaced.has_value(), replaced.error().message());
  auto kept = must_fetch(env, "kept");
  REQUIRE(kept.has_value());
  CHECK(tag_of(kept->meta) == "old");
  CHECK_BODY(kept->body, old_body);
}

TEST_CASE_TEMPLATE("conformance: update_meta replaces the head and keeps the body", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  const std::string body = random_body(150'000, 31);
  must_put(env, "k", text_meta("v1", body.size(), std::chrono::seconds(600)), body);

  // A reader opened before the update keeps reading the body.
  auto before = env.run(env.store().get("k"));
  REQUIRE(before.has_value());
  REQUIRE(before->has_value());

  auto meta = text_meta("v2", body.size(), std::chrono::seconds(900));
  meta.headers.add("X-Revalidated", "yes");
  meta.response_time = std::chrono::system_clock::now() + std::chrono::seconds(5);
  auto updated = env.run(env.store().update_meta("k", meta));
  REQUIRE_MESSAGE(updated.has_value(), updated.error().message());

  auto got = must_fetch(env, "k");
  REQUIRE(got.has_value());
  CHECK(tag_of(got->meta) == "v2");
  CHECK(got->meta.headers.get("x-revalidated") == "yes");
  CHECK(got->meta.keep_for == std::chrono::seconds(900));
  CHECK(close_in_time(got->meta.response_time, meta.response_time));
  CHECK(got->meta.body_size == body.size());
  CHECK_BODY(got->body, body);

  auto rest = env.run(drain(*(*before)->body));
  REQUIRE_MESSAGE(rest.has_value(), rest.error().message());
  CHECK_BODY(*rest, body);

  if (traits(T::kind).local_stats) CHECK(env.store().stats().entries == 1);
}

TEST_CASE_TEMPLATE("conformance: remove reports whether the key existed and frees it", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  const std::string body = random_body(200'000, 41);
  must_put(env, "k", text_meta("v1", body.size()), body);
  must_put(env, "other", text_meta("o", 5), "other");

  // A reader opened before the removal still reads the whole body.
  auto open = env.run(env.store().get("k"));
  REQUIRE(open.has_value());
  REQUIRE(open->has_value());

  auto first = env.run(env.store().remove("k"));
  REQUIRE_MESSAGE(first.has_value(), first.error().message());
  CHECK(*first);
  auto second = env.run(env.store().remove("k"));
  REQUIRE(second.has_value());
  CHECK_FALSE(*second);
  CHECK(is_miss(env, "k"));

  auto rest = env.run(drain(*(*open)->body));
  REQUIRE_MESSAGE(rest.has_value(), rest.error().message());
  CHECK_BODY(*rest, body);

  auto other = must_fetch(env, "other");
  REQUIRE(other.has_value());
  CHECK(other->body == "other");
  if (traits(T::kind).local_stats) CHECK(env.store().stats().entries == 1);

  // The key can be stored again.
  must_put(env, "k", text_meta("v2", 3), "new");
  auto again = must_fetch(env, "k");
  REQUIRE(again.has_value());
  CHECK(again->body == "new");
}

TEST_CASE_TEMPLATE("conformance: a reader keeps the old entry while the key is replaced", T,
                   STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  const std::string old_body = random_body(300'000, 51);
  const std::string new_body = random_body(200'000, 52);
  must_put(env, "k", text_meta("old", old_body.size()), old_body);

  // Reader R opens the old entry and reads part of it.
  auto hit = env.run(env.store().get("k"));
  REQUIRE(hit.has_value());
  REQUIRE(hit->has_value());
  auto& reader = *(*hit)->body;
  std::string seen;
  while (seen.size() < 100'000) {
    auto chunk = env.run(reader.read());
    REQUIRE_MESSAGE(chunk.has_value(), chunk.error().message());
    REQUIRE_FALSE(chunk->empty());
    seen.append(chunk->data(), chunk->size());
  }

  // A writer replaces the key: everything written, not committed yet.
  auto writer = env.run(env.store().put("k", text_meta("new", new_body.size())));
  REQUIRE_MESSAGE(writer.has_value(), writer.error().message());
  for (std::size_t i = 0; i < new_body.size(); i += 40'000) {
    auto n = std::min<std::size_t>(40'000, new_body.size() - i);
    auto w = env.run((*writer)->write(std::span<const char>(new_body.data() + i, n)));
    REQUIRE_MESSAGE(w.has_value(), w.error().message());
  }
  {
    INFO("before commit, readers see the old entry");
    auto now = must_fetch(env, "k");
    REQUIRE(now.has_value());
    CHECK(tag_of(now->meta) == "old");
    CHECK_BODY(now->body, old_body);
  }

  // A fresh key being written is invisible until its commit.
  auto fresh = env.run(env.store().put("fresh", text_meta("f", 6)));
  REQUIRE(fresh.has_value());
  REQUIRE(env.run((*fresh)->write(std::span<const char>("abcdef", 6))).has_value());
  CHECK(is_miss(env, "fresh"));

  auto committed = env.run((*writer)->commit());
  REQUIRE_MESSAGE(committed.has_value(), committed.error().message());
  REQUIRE(env.run((*fresh)->commit()).has_value());

  {
    INFO("after commit, R still reads the old body to its end");
    auto rest = env.run(drain(reader));
    REQUIRE_MESSAGE(rest.has_value(), rest.error().message());
    CHECK_BODY(seen + *rest, old_body);
  }
  auto now = must_fetch(env, "k");
  REQUIRE(now.has_value());
  CHECK(tag_of(now->meta) == "new");
  CHECK(now->meta.body_size == new_body.size());
  CHECK_BODY(now->body, new_body);
  auto f = must_fetch(env, "fresh");
  REQUIRE(f.has_value());
  CHECK(f->body == "abcdef");
  if (traits(T::kind).local_stats) CHECK(env.store().stats().entries == 2);
}

TEST_CASE_TEMPLATE("conformance: entries are evicted at capacity", T, STORAGE_EVICTING_BACKENDS) {
  constexpr std::uint64_t capacity = 450 * KiB;
  constexpr std::size_t each = 100'000;
  constexpr int count = 8;
  Options options;
  options.max_size = capacity;
  Env env(T::kind, options);

  for (int i = 0; i < count; ++i) {
    auto body = random_body(each, 60 + i);  // incompressible: zstd cannot make room
    must_put(env, numbered("e", i), text_meta("e", each), body);
  }
  auto stats = env.store().stats();
  CHECK(stats.evictions >= 1);
  CHECK(stats.size_bytes <= capacity);
  CHECK(stats.entries < static_cast<std::uint64_t>(count));

  int readable = 0;
  for (int i = 0; i < count; ++i) {
    auto got = must_fetch(env, numbered("e", i));
    if (!got) continue;
    ++readable;
    CHECK_BODY(got->body, random_body(each, 60 + i));
  }
  // The oldest went first; a sharded store's order holds within a shard only.
  if (T::kind != Kind::sharded_memory) CHECK(is_miss(env, "e0"));
  auto last = must_fetch(env, numbered("e", count - 1));
  CHECK(last.has_value());  // the newest is there
  CHECK(readable >= 2);     // eviction made room, it did not flush everything
  CHECK(readable < count);
}

TEST_CASE_TEMPLATE("conformance: objects over max_object_size are refused", T, STORAGE_ALL_BACKENDS) {
  Options options;
  options.max_object_size = 200 * KiB;
  Env env(T::kind, options);
  const std::string big = random_body(300'000, 71);
  auto r = env.run(put_body(env.store(), "big", text_meta("big", big.size()), big));
  REQUIRE_FALSE(r.has_value());
  CHECK_MESSAGE(r.error() == make_error_code(Errc::object_too_large), r.error().message());
  CHECK(is_miss(env, "big"));

  // Still usable, and within the limit is fine.
  const std::string fits = random_body(150'000, 72);
  must_put(env, "big", text_meta("fits", fits.size()), fits);
  auto got = must_fetch(env, "big");
  REQUIRE(got.has_value());
  CHECK_BODY(got->body, fits);
}

TEST_CASE_TEMPLATE("conformance: a 64 MiB object streams in and out with bounded memory", T,
                   STORAGE_ALL_BACKENDS) {
  constexpr std::uint64_t size = 64 * MiB;
  constexpr std::uint64_t budget = 24 * MiB;
  Env env(T::kind);
  // Warm up: connections, thread pools and buffers exist before measuring.
  must_put(env, "warm", text_meta("w", 5), "warm!");
  REQUIRE(must_fetch(env, "warm").has_value());

  Result<void> stored = make_error_code(Errc::storage_unavailable);
  Result<StreamCheck> check = make_error_code(Errc::storage_unavailable);
  const auto start = Steady::now();
  const auto growth = peak_rss_growth([&] {
    stored = env.run(put_stream(env.store(), "big", text_meta("big", size), size, 81), 120s);
    if (stored) check = env.run(read_stream(env.store(), "big", 81), 120s);
  });
  MESSAGE(std::string(kind_name(T::kind)) << ": 64 MiB written and read in " << seconds_since(start) << " s, peak RSS growth "
                             << growth / MiB << " MiB");
  REQUIRE_MESSAGE(stored.has_value(), "storing 64 MiB failed: " << stored.error().message());
  REQUIRE_MESSAGE(check.has_value(), "reading 64 MiB failed: " << check.error().message());
  CHECK(check->found);
  CHECK(check->bytes == size);
  CHECK(check->meta_size == size);
  CHECK(check->matches);
  CHECK_MESSAGE(check->max_chunk <= 1 * MiB, "largest chunk " << check->max_chunk << " bytes");
  if (!traits(T::kind).body_in_memory) {
    CHECK_MESSAGE(growth < budget, "peak RSS grew " << growth / MiB << " MiB for a 64 MiB object");
  }
  (void)env.run(env.store().remove("big"));
}

TEST_CASE_TEMPLATE("conformance: keep_for is respected", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  const std::string body = random_body(20'000, 91);

  if (T::kind != Kind::redis) {
    // Already past keep_for when looked up: dropped, a miss. (Redis counts
    // its TTL from the write instead; see the short-lived entry below.)
    auto old = text_meta("old", body.size(), std::chrono::seconds(5));
    old.request_time = std::chrono::system_clock::now() - std::chrono::seconds(11);
    old.response_time = old.request_time + std::chrono::seconds(1);
    (void)env.run(put_body(env.store(), "expired", old, body));
    CHECK(is_miss(env, "expired"));
  }

  must_put(env, "short", text_meta("s", body.size(), std::chrono::seconds(1)), body);
  must_put(env, "forever", text_meta("f", body.size(), std::chrono::seconds(0)), body);
  must_put(env, "long", text_meta("l", body.size(), std::chrono::seconds(3600)), body);
  auto fresh = must_fetch(env, "short");
  REQUIRE_MESSAGE(fresh.has_value(), "an entry with keep_for 1 s is gone at once");
  CHECK_BODY(fresh->body, body);
  const auto expired_before = env.store().stats().expirations;

  if (T::kind == Kind::redis) {
    // Redis expires entries by the server's own clock (PX = keep_for), which
    // no fake clock moves: the one real wait, for the TTL the server reports.
    // -2: already gone, on a machine slow enough to take a second since the put.
    const auto ttl = shared_redis().pttl(env.redis_prefix() + "m:short");
    REQUIRE_MESSAGE((ttl == -2 || (ttl > 0 && ttl <= 1000)), "PTTL of an entry with keep_for 1 s: " << ttl);
    std::this_thread::sleep_for(Millis(std::max(ttl, 0LL)) + 100ms);
  } else {
    env.clock().advance(1600ms);
  }
  CHECK_MESSAGE(is_miss(env, "short"), "keep_for 1 s, looked up after it passed");
  auto forever = must_fetch(env, "forever");
  CHECK(forever.has_value());
  auto long_lived = must_fetch(env, "long");
  REQUIRE(long_lived.has_value());
  CHECK_BODY(long_lived->body, body);
  if (traits(T::kind).counts_expiry) CHECK(env.store().stats().expirations > expired_before);
  if (traits(T::kind).local_stats) CHECK(env.store().stats().entries == 2);
}

TEST_CASE_TEMPLATE("conformance: a keep_for beyond the clock's range keeps the entry", T, STORAGE_ALL_BACKENDS) {
  // An Expires past 2262 gives lifetimes that overflow the clock's
  // nanoseconds when added to a time: the entry must be kept, not
  // reported stored and then treated as long expired (nor refused).
  Env env(T::kind);
  const std::string body = random_body(20'000, 93);
  const auto centuries = std::chrono::seconds(300LL * 365 * 86400);
  must_put(env, "centuries", text_meta("c", body.size(), centuries), body);
  must_put(env, "max", text_meta("m", body.size(), std::chrono::seconds::max()), body);
  for (const char* key : {"centuries", "max"}) {
    CAPTURE(key);
    auto got = must_fetch(env, key);
    REQUIRE_MESSAGE(got.has_value(), "a far-future entry is not found");
    CHECK_BODY(got->body, body);
  }
  CHECK(must_fetch(env, "centuries")->meta.keep_for == centuries);
  if (traits(T::kind).counts_expiry) CHECK(env.store().stats().expirations == 0);
}

TEST_CASE_TEMPLATE("conformance: two event loops use one store at once", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind, {}, 2);
  constexpr int rounds = 25;
  // The body of the shared key follows from its tag, so a reader can tell
  // a torn entry (meta of one version, body of another).
  auto body_for = [](const std::string& tag) {
    auto h = std::hash<std::string>{}(tag);
    return text_body(4'000 + h % 20'000, h);
  };
  struct Outcome {
    int errors = 0;
    int torn = 0;
    std::string first_error;
  };
  auto churn = [&](int who) -> asio::awaitable<Outcome> {
    Outcome out;
    auto fail = [&](const std::string& what) {
      if (out.first_error.empty()) out.first_error = what;
    };
    for (int i = 0; i < rounds; ++i) {
      const std::string own = numbered(numbered("own-", who) + "-", i % 3);
      const std::string tag = numbered(numbered("w", who) + "-", i);
      const std::string body = body_for(tag);
      if (auto r = co_await put_body(env.store(), own, text_meta(tag, body.size()), body, 3'000); !r) {
        ++out.errors;
        fail("put " + own + ": " + r.error().message());
      }
      auto got = co_await get_body(env.store(), own);
      if (!got || !*got) {
        ++out.errors;
        fail("get " + own + (got ? ": miss" : ": " + got.error().message()));
      } else if (tag_of((*got)->meta) != tag || (*got)->body != body) {
        ++out.torn;
        fail("own key " + own + " read back something else");
      }
      if (auto r = co_await put_body(env.store(), "shared", text_meta(tag, body.size()), body, 3'000); !r) {
        ++out.errors;
        fail("put shared: " + r.error().message());
      }
      auto shared = co_await get_body(env.store(), "shared");
      if (!shared) {
        ++out.errors;
        fail("get shared: " + shared.error().message());
      } else if (*shared && (*shared)->body != body_for(tag_of((*shared)->meta))) {
        ++out.torn;
        fail("shared key: body does not belong to its head " + tag_of((*shared)->meta));
      }
    }
    co_return out;
  };
  auto f0 = asio::co_spawn(env.loop(0).io(), churn(0), asio::use_future);
  auto f1 = asio::co_spawn(env.loop(1).io(), churn(1), asio::use_future);
  for (auto* f : {&f0, &f1}) {
    if (f->wait_for(60s) != std::future_status::ready) {
      env.loop(0).stop();
      env.loop(1).stop();
      FAIL("concurrent churn did not finish within 60 s");
    }
  }
  auto o0 = f0.get();
  auto o1 = f1.get();
  CHECK_MESSAGE(o0.errors + o1.errors == 0, o0.first_error << " / " << o1.first_error);
  CHECK_MESSAGE(o0.torn + o1.torn == 0, o0.first_error << " / " << o1.first_error);
}
