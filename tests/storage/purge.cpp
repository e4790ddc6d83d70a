// Purges (storage.hpp, Storage::purge) on every backend: which entries each
// selector reaches (URL with keyed-header forms and Vary variants, prefix,
// glob, tag, all), hard against soft, the counts; then what one backend
// promises besides (tag indexes across restarts and evictions, a walk that
// yields, Redis scopes and outages, old records) and the Redis purge bus.
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <mutex>

#include "../../src/storage/disk/record.hpp"
#include "../../src/storage/redis/format.hpp"
#include "../../src/storage/redis/purge_message.hpp"
#include "relay/storage/memory_lru.hpp"
#include "relay/storage/purge_bus.hpp"
#include "relay/storage/redis_store.hpp"
#include "relay/storage/tiered_store.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::storage;
using namespace relay::storage::test;

namespace {

using Steady = std::chrono::steady_clock;
using By = PurgeSelector::Kind;

EntryMeta tagged(const std::string& label, std::uint64_t length, std::vector<std::string> tags = {}) {
  auto meta = text_meta(label, length, 3600s);
  meta.internal.tags = std::move(tags);
  return meta;
}

EntryMeta vary_index(const std::string& generation) {
  auto meta = text_meta("index", 0, 3600s);
  meta.internal.kind = EntryKind::vary_index;
  meta.internal.vary = VaryIndex{"accept-language", generation};
  return meta;
}

void put_key(Env& env, const CacheKey& key, EntryMeta meta, const std::string& body) {
  auto r = env.run([&]() -> asio::awaitable<Result<void>> {
    auto writer = co_await env.store().put(key, std::move(meta));
    if (!writer) co_return writer.error();
    if (!body.empty())
      if (auto w = co_await (*writer)->write(std::span<const char>(body.data(), body.size())); !w) co_return w;
    co_return co_await (*writer)->commit();
  }());
  REQUIRE_MESSAGE(r.has_value(), "put " << key.flat() << ": " << r.error().message());
}

std::optional<EntryMeta> meta_of(Storage& store, Loop& loop, const CacheKey& key) {
  auto hit = loop.run([&]() -> asio::awaitable<Result<std::optional<EntryMeta>>> {
    auto r = co_await store.get(key);
    if (!r) co_return r.error();
    if (!*r) co_return std::optional<EntryMeta>{};
    co_return std::optional<EntryMeta>{(**r).meta};
  }());
  REQUIRE(hit.has_value());
  return *hit;
}
std::optional<EntryMeta> meta_of(Env& env, const CacheKey& key) { return meta_of(env.store(), env.loop(), key); }

PurgeRequest request(By kind, std::string value, PurgeMode mode = PurgeMode::hard,
                     PurgeScope scope = PurgeScope::everywhere) {
  PurgeRequest r;
  r.selector = PurgeSelector{kind, std::move(value)};
  r.mode = mode;
  r.scope = scope;
  r.at = std::chrono::system_clock::now();
  return r;
}

std::uint64_t must_purge(Storage& store, Loop& loop, const PurgeRequest& r) {
  auto n = loop.run(store.purge(r));
  REQUIRE_MESSAGE(n.has_value(), "purge failed: " << n.error().message());
  return *n;
}
std::uint64_t must_purge(Env& env, const PurgeRequest& r) { return must_purge(env.store(), env.loop(), r); }

// A Redis Env on a server of the test's own, which it may kill.
Options own_server(const RedisServer& server) {
  Options options;
  options.redis_url = server.url();
  return options;
}

// The URL http://a/page as the cache layer files it when it varies on
// Accept-Language, plus a keyed-header form and neighbours no URL purge of
// it may touch.
struct VariedUrl {
  CacheKey index{"http://a/page"};
  CacheKey en = CacheKey::for_variant("http://a/page", "g1", "en");
  CacheKey de = CacheKey::for_variant("http://a/page", "g1", "de");
  CacheKey keyed{"http://a/page|x-device=mobile"};
  CacheKey longer{"http://a/pages"};
  CacheKey query{"http://a/page?x=1"};

  explicit VariedUrl(Env& env) {
    put_key(env, index, vary_index("g1"), "");
    put_key(env, en, tagged("en", 5, {"t1"}), "hello");
    put_key(env, de, tagged("de", 5, {"t1", "t2"}), "hallo");
    put_key(env, keyed, tagged("keyed", 3), "abc");
    put_key(env, longer, tagged("longer", 3, {"t2"}), "def");
    put_key(env, query, tagged("query", 3), "ghi");
  }
};

}  // namespace

TEST_CASE_TEMPLATE("purge: a URL purge removes its keyed-header forms, every Vary variant and the index", T,
                   STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  VariedUrl url(env);
  CHECK(must_purge(env, request(By::url, "http://a/page")) == 3);  // the index is not counted
  for (const auto* gone : {&url.index, &url.en, &url.de, &url.keyed}) {
    CAPTURE(gone->flat());
    CHECK_FALSE(meta_of(env, *gone).has_value());
  }
  CHECK(meta_of(env, url.longer).has_value());
  CHECK(meta_of(env, url.query).has_value());
  CHECK(must_purge(env, request(By::url, "http://a/page")) == 0);
}

TEST_CASE_TEMPLATE("purge: prefix, glob, tag and all select what they say", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  VariedUrl url(env);
  put_key(env, "http://b/img/1.png", tagged("png", 3, {"img"}), "png");
  put_key(env, "http://b/img/2.jpg", tagged("jpg", 3, {"img"}), "jpg");
  put_key(env, "http://b/[weird]*?\\", tagged("weird", 3), "odd");

  SUBCASE("prefix") {
    CHECK(must_purge(env, request(By::prefix, "http://b/img/")) == 2);
    CHECK_FALSE(meta_of(env, "http://b/img/1.png").has_value());
    CHECK(meta_of(env, "http://b/[weird]*?\\").has_value());
    CHECK(meta_of(env, url.en).has_value());
  }
  SUBCASE("glob") {
    CHECK(must_purge(env, request(By::glob, "http://b/*.png")) == 1);
    CHECK_FALSE(meta_of(env, "http://b/img/1.png").has_value());
    CHECK(meta_of(env, "http://b/img/2.jpg").has_value());
    // Redis pattern characters in a literal part are literal.
    CHECK(must_purge(env, request(By::glob, "http://b/[weird]*")) == 1);
    CHECK_FALSE(meta_of(env, "http://b/[weird]*?\\").has_value());
    CHECK(must_purge(env, request(By::glob, "http://a/page*")) == 5);
    CHECK_FALSE(meta_of(env, url.index).has_value());
  }
  SUBCASE("tag") {
    CHECK(must_purge(env, request(By::tag, "t2")) == 2);  // a variant and an unrelated URL
    CHECK_FALSE(meta_of(env, url.de).has_value());
    CHECK_FALSE(meta_of(env, url.longer).has_value());
    CHECK(meta_of(env, url.en).has_value());
    CHECK(meta_of(env, url.index).has_value());
    CHECK(must_purge(env, request(By::tag, "t2")) == 0);
    CHECK(must_purge(env, request(By::tag, "nobody")) == 0);
  }
  SUBCASE("all") {
    CHECK(must_purge(env, request(By::all, "")) == 8);
    for (const auto& key : {url.index, url.en, CacheKey("http://b/img/2.jpg")}) CHECK_FALSE(meta_of(env, key).has_value());
  }
}

TEST_CASE_TEMPLATE("purge: soft marks responses stale, keeps bodies, never moves a mark later", T,
                   STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  VariedUrl url(env);
  auto first = request(By::url, "http://a/page", PurgeMode::soft);
  first.at = std::chrono::system_clock::now() - 10s;
  CHECK(must_purge(env, first) == 3);
  auto stale_at = [&](const CacheKey& key) { return meta_of(env, key).value_or(EntryMeta{}).internal.stale_at; };
  // Redis stores ns, the others exactly: compare in ms.
  auto ms = [](std::optional<SysTime> t) {
    return t ? std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count() : -1;
  };
  const auto first_ms = ms(first.at);
  CHECK(ms(stale_at(url.en)) == first_ms);
  CHECK(ms(stale_at(url.keyed)) == first_ms);
  CHECK_FALSE(stale_at(url.index).has_value());  // a Vary index is no response
  CHECK_FALSE(stale_at(url.longer).has_value());
  auto body = must_fetch(env, url.keyed.flat());
  REQUIRE(body.has_value());
  CHECK(body->body == "abc");

  // A later soft purge counts but keeps the earlier mark; a tag reaches the rest.
  CHECK(must_purge(env, request(By::tag, "t2", PurgeMode::soft)) == 2);
  CHECK(ms(stale_at(url.de)) == first_ms);
  CHECK(stale_at(url.longer).has_value());
  CHECK(meta_of(env, url.longer).value_or(EntryMeta{}).keep_for == 3600s);
}

TEST_CASE_TEMPLATE("purge: tags and a stale mark round-trip through put and update_meta", T, STORAGE_ALL_BACKENDS) {
  Env env(T::kind);
  auto meta = tagged("v1", 4, {"a", "b c", "ünï"});
  meta.internal.stale_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  put_key(env, "http://t/1", meta, "body");
  auto got = meta_of(env, "http://t/1");
  REQUIRE(got.has_value());
  CHECK(got->internal.tags == meta.internal.tags);
  CHECK(got->internal.stale_at == meta.internal.stale_at);

  auto update = tagged("v2", 4, {"c"});
  REQUIRE(env.run(env.store().update_meta("http://t/1", update)).has_value());
  got = meta_of(env, "http://t/1");
  REQUIRE(got.has_value());
  CHECK(got->internal.tags == std::vector<std::string>{"c"});
  CHECK_FALSE(got->internal.stale_at.has_value());
  // The tag index follows the update.
  CHECK(must_purge(env, request(By::tag, "a")) == 0);
  CHECK(must_purge(env, request(By::tag, "c")) == 1);
}

TEST_CASE("memory: the tag index forgets evicted, expired and removed entries") {
  FakeClock clock;
  MemoryLru store(20'000, Eviction::lru, clock.clock());
  Loop loop;
  const std::string body(4000, 'x');
  auto meta = [](std::vector<std::string> tags, std::chrono::seconds keep = 3600s) {
    auto m = tagged("x", 4000, std::move(tags));
    m.keep_for = keep;
    return m;
  };
  for (int i = 0; i < 20; ++i) REQUIRE(store.insert(numbered("http://m/", i), meta({"all", numbered("t", i)}), body));
  const auto live = store.stats().entries;
  CHECK(live < 20);
  CHECK(store.tag_index_size() == 2 * live);
  REQUIRE(loop.run(store.remove("http://m/19")).has_value());
  CHECK(store.tag_index_size() == 2 * (live - 1));
  REQUIRE(store.insert("http://m/short", meta({"all"}, 1s), body));
  clock.advance(10s);
  CHECK_FALSE(store.find("http://m/short"));
  CHECK(store.tag_index_size() == 2 * store.stats().entries);
  const auto entries = store.stats().entries;
  CHECK(must_purge(store, loop, request(By::tag, "all")) == entries);
  CHECK(store.tag_index_size() == 0);
}

TEST_CASE("memory: a purge of 100k entries completes and lets the loop run between slices") {
  MemoryLru store(1ULL << 32);
  const auto meta = tagged("x", 1, {"bulk"});
  for (int i = 0; i < 100'000; ++i) REQUIRE(store.insert(numbered("http://bulk/", i), meta, "x"));
  asio::io_context io;
  bool done = false, ran_during = false;
  std::uint64_t count = 0;
  // Named: purge() takes it by reference and runs after this statement.
  const auto bulk = request(By::prefix, "http://bulk/");
  asio::co_spawn(io, store.purge(bulk), [&](std::exception_ptr e, Result<std::uint64_t> r) {
    REQUIRE_FALSE(e);
    REQUIRE(r.has_value());
    count = *r;
    done = true;
  });
  asio::post(io, [&] { ran_during = !done; });
  const auto start = Steady::now();
  io.run();
  CHECK(done);
  CHECK(ran_during);
  CHECK(count == 100'000);
  CHECK(store.stats().entries == 0);
  CHECK(store.tag_index_size() == 0);
  CHECK(seconds_since(start) < 10);
}

TEST_CASE("disk: tags and stale marks survive a restart") {
  Env env(Kind::disk);
  put_key(env, "http://d/1", tagged("1", 3, {"red"}), "one");
  put_key(env, "http://d/2", tagged("2", 3, {"red", "blue"}), "two");
  put_key(env, "http://d/3", tagged("3", 3, {"blue"}), "thr");
  CHECK(must_purge(env, request(By::url, "http://d/3", PurgeMode::soft)) == 1);
  env.reopen();
  CHECK(meta_of(env, "http://d/3").value_or(EntryMeta{}).internal.stale_at.has_value());
  CHECK(must_purge(env, request(By::tag, "red")) == 2);
  CHECK_FALSE(meta_of(env, "http://d/1").has_value());
  CHECK(meta_of(env, "http://d/3").has_value());
  env.reopen();
  CHECK(must_purge(env, request(By::tag, "blue")) == 1);
  CHECK(env.store().stats().entries == 0);
}

TEST_CASE("disk: records without purge facts keep the layout older relays wrote and read") {
  auto meta = tagged("x", 0);
  auto plain = disk::encode_record("k", meta, std::string(64, 'a'), "");
  CHECK(plain[6] == 0);  // flags: what version 3 records always had
  CHECK(plain[7] == 0);
  auto back = disk::decode_record(plain);
  REQUIRE(back.has_value());
  CHECK(back->meta.internal.tags.empty());

  meta.internal.tags = {"t"};
  meta.internal.stale_at = std::chrono::system_clock::now();
  auto rich = disk::decode_record(disk::encode_record("k", meta, std::string(64, 'a'), ""));
  REQUIRE(rich.has_value());
  CHECK(rich->meta.internal.tags == meta.internal.tags);
  CHECK(rich->meta.internal.stale_at == meta.internal.stale_at);
  // An unknown flag is another format: refused, never misread.
  auto unknown = disk::encode_record("k", meta, std::string(64, 'a'), "");
  unknown[6] = 2;
  CHECK_FALSE(disk::decode_record(unknown).has_value());
}

TEST_CASE("redis: version-2 records from before purge facts are still read") {
  const std::string old =
      "relay-meta 2\n200 1 2 60 0 0 - 1\n2:OK\n1:a\n1:b\n0 0 - 0\n0:\n0:\n";
  auto s = redis::decode(old);
  REQUIRE(s.has_value());
  CHECK(s->meta.internal.tags.empty());
  CHECK_FALSE(s->meta.internal.stale_at.has_value());
  CHECK_FALSE(redis::decode(old + "purge 2 -\n1:a\n").has_value());  // a tag short
  auto with = redis::decode(old + "purge 1 5\n1:a\n");
  REQUIRE(with.has_value());
  CHECK(with->meta.internal.tags == std::vector<std::string>{"a"});
}

TEST_CASE("redis: sizes past INT64_MAX encode as the unsigned numbers decode reads (found by fuzz_redis_record)") {
  const std::string big =
      "relay-meta 2\n200 1 2 60 10000000000000000000 1 id 0\n2:OK\n0 0 - 0\n0:\n0:\n";
  auto s = redis::decode(big);
  REQUIRE(s.has_value());
  CHECK(redis::encode(*s) == big);
  auto again = redis::decode(redis::encode(*s));
  REQUIRE(again.has_value());
  CHECK(again->meta.body_size == 10'000'000'000'000'000'000ull);
}

TEST_CASE("redis: tag sets live in Redis with a TTL and serve another connection") {
  Env env(Kind::redis);
  auto& server = shared_redis();
  put_key(env, "http://r/1", tagged("1", 3, {"news"}), "one");
  put_key(env, "http://r/2", tagged("2", 3, {"news"}), "two");
  auto sets = server.keys(env.redis_prefix() + "tag:*");
  REQUIRE(sets.size() == 1);
  CHECK(server.pttl(sets.front()) > 3000'000);
  env.reopen();  // a new store, new connections: the index is Redis's
  CHECK(must_purge(env, request(By::tag, "news")) == 2);
  CHECK(server.keys(env.redis_prefix() + "tag:*").empty());
  CHECK_FALSE(meta_of(env, "http://r/1").has_value());
}

TEST_CASE("redis: a this_instance purge leaves the shared level alone, also under a memory tier") {
  Env env(Kind::redis);
  put_key(env, "http://r/1", tagged("1", 3), "one");
  CHECK(must_purge(env, request(By::all, "", PurgeMode::hard, PurgeScope::this_instance)) == 0);
  CHECK(meta_of(env, "http://r/1").has_value());

  auto upper = std::make_shared<MemoryLru>(1 << 20);
  auto tiered = make_tiered_store(upper, env.shared());
  auto hit = env.run(get_body(*tiered, "http://r/1"));  // copied up
  REQUIRE(hit.has_value());
  REQUIRE(upper->find("http://r/1"));
  auto local = request(By::url, "http://r/1", PurgeMode::hard, PurgeScope::this_instance);
  CHECK(must_purge(*tiered, env.loop(), local) == 1);
  CHECK_FALSE(upper->find("http://r/1"));
  CHECK(meta_of(env, "http://r/1").has_value());
  CHECK(must_purge(*tiered, env.loop(), request(By::url, "http://r/1")) == 1);
  CHECK_FALSE(meta_of(env, "http://r/1").has_value());
}

TEST_CASE("redis: a purge against a dead server fails within the command timeout") {
  RedisServer server;
  server.start();
  Env env(Kind::redis, own_server(server));
  put_key(env, "http://r/1", tagged("1", 3, {"x"}), "one");
  server.kill();
  for (auto kind : {By::tag, By::all}) {
    const auto start = Steady::now();
    auto r = env.run(env.store().purge(request(kind, kind == By::tag ? "x" : "")), 5s);
    CHECK_FALSE(r.has_value());
    CHECK(seconds_since(start) < 2);
  }
}

// --------------------------------------------------------------------------
// The purge bus

namespace {

// What one bus delivered, with when.
struct Inbox {
  std::mutex mutex;
  std::vector<std::pair<PurgeRequest, Steady::time_point>> got;
  std::function<void(PurgeRequest)> sink() {
    return [this](PurgeRequest r) {
      std::lock_guard lock(mutex);
      got.emplace_back(std::move(r), Steady::now());
    };
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return got.size();
  }
};

long long redis_integer(int port, const std::vector<std::string>& argv) {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  REQUIRE((c && !c->err));
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& a : argv) args.push_back(a.data()), lens.push_back(a.size());
  auto* reply = static_cast<redisReply*>(redisCommandArgv(c, int(args.size()), args.data(), lens.data()));
  long long value = -1;
  if (reply && reply->type == REDIS_REPLY_INTEGER) value = reply->integer;
  if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) value = reply->element[1]->integer;
  freeReplyObject(reply);
  redisFree(c);
  return value;
}

bool eventually(const std::function<bool()>& pred, Millis limit = 3s) {
  const auto deadline = Steady::now() + limit;
  while (!pred()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("purge bus: messages round-trip; anything else is refused") {
  auto r = request(By::url, "http://a/x y|k=v\nnext", PurgeMode::soft);
  auto m = redis::decode_purge(redis::encode_purge("abc123", r));
  REQUIRE(m.has_value());
  CHECK(m->instance == "abc123");
  CHECK(m->request.selector == r.selector);
  CHECK(m->request.mode == PurgeMode::soft);
  CHECK(m->request.scope == PurgeScope::this_instance);
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(m->request.at - r.at).count() == 0);
  for (std::string bad : {"", "relay-purge 1 abc url hard 5", "relay-purge 2 abc url hard 5\nx",
                          "relay-purge 1 ABC url hard 5\nx", "relay-purge 1 abc nope hard 5\nx",
                          "relay-purge 1 abc url gentle 5\nx", "relay-purge 1 abc url hard 5x\nx",
                          "relay-purge 1 abc url hard 5 6\nx", "relay-purge 1 abc url hard 5\n",
                          "relay-purge 1 abc all hard 5\nx"})
    CHECK_FALSE_MESSAGE(redis::decode_purge(bad).has_value(), bad);
}

TEST_CASE("purge bus: another instance hears a purge within 100 ms, the sender does not, junk is ignored") {
  Env env(Kind::redis);
  auto& server = shared_redis();
  auto cfg = env.redis_config();
  Loop la, lb;
  auto a = make_redis_purge_bus(cfg, la.io());
  auto b = make_redis_purge_bus(cfg, lb.io());
  Inbox at_a, at_b;
  a->start(at_a.sink());
  b->start(at_b.sink());
  const std::string channel = cfg.key_prefix + "purge";
  REQUIRE(eventually([&] { return redis_integer(server.port(), {"PUBSUB", "NUMSUB", channel}) == 2; }));

  CHECK(redis_integer(server.port(), {"PUBLISH", channel, "garbage\n\x01"}) == 2);
  CHECK(redis_integer(server.port(), {"PUBLISH", channel, "relay-purge 1 zz url hard 1\nx"}) == 2);
  auto sent = request(By::tag, "news", PurgeMode::soft);
  const auto published = Steady::now();
  a->publish(sent);
  REQUIRE(eventually([&] { return at_b.size() >= 1; }, 2s));
  {
    std::lock_guard lock(at_b.mutex);
    REQUIRE(at_b.got.size() == 1);
    CHECK(at_b.got[0].first.selector == sent.selector);
    CHECK(at_b.got[0].first.mode == PurgeMode::soft);
    CHECK(at_b.got[0].first.scope == PurgeScope::this_instance);
    auto latency = std::chrono::duration_cast<Millis>(at_b.got[0].second - published);
    CHECK_MESSAGE(latency < 100ms, "delivered after " << latency.count() << " ms");
  }
  std::this_thread::sleep_for(150ms);
  CHECK(at_a.size() == 0);  // its own

  b->publish(request(By::all, ""));
  REQUIRE(eventually([&] { return at_a.size() == 1; }, 2s));
  b->stop();
  a->publish(request(By::url, "http://x/"));
  std::this_thread::sleep_for(150ms);
  CHECK(at_b.size() == 1);  // nothing after stop()
  a->stop();
  la.stop();
  lb.stop();
}

TEST_CASE("purge bus: the subscriber comes back after Redis restarts; publishing meanwhile only logs") {
  RedisServer server;
  server.start();
  Env env(Kind::redis, own_server(server));
  auto cfg = env.redis_config();
  Loop la, lb;
  auto a = make_redis_purge_bus(cfg, la.io());
  auto b = make_redis_purge_bus(cfg, lb.io());
  Inbox at_b;
  a->start([](PurgeRequest) {});
  b->start(at_b.sink());
  const std::string channel = cfg.key_prefix + "purge";
  REQUIRE(eventually([&] { return redis_integer(server.port(), {"PUBSUB", "NUMSUB", channel}) == 2; }));
  server.kill();
  a->publish(request(By::all, ""));  // returns at once, fails on the loop
  std::this_thread::sleep_for(200ms);
  server.start();
  REQUIRE(eventually([&] { return redis_integer(server.port(), {"PUBSUB", "NUMSUB", channel}) == 2; }, 15s));
  a->publish(request(By::prefix, "http://back/"));
  REQUIRE(eventually([&] { return at_b.size() >= 1; }, 3s));
  a->stop();
  b->stop();
  la.stop();
  lb.stop();
}
