// The per-key session's state machine (key_session.hpp) with a fake clock
// and a scripted fleet lock: who fills, who follows, what a dropped permit,
// a slow writer, an old fill, an uncacheable key or a Redis away mean.
#include <doctest/doctest.h>

#include "relay/cache/vary.hpp"
#include "relay/proxy/key_session.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::proxy;
using relay::test::ScriptedLock;
using Kind = KeySessions::Acquired::Kind;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
  SteadyClock fn() {
    return [this] { return now; };
  }
};

CoalescerSettings settings() {
  CoalescerSettings s;
  s.follower_timeout = 50ms;
  s.max_fill_age = 60s;
  s.hit_for_miss = 10s;
  s.spool_dir = "";
  s.spool_memory = 1 << 20;
  return s;
}

KeySessions::Acquired acquire(boost::asio::io_context& io, KeySessions& sessions, const std::string& key,
                              PeerProbe probe = {}) {
  return test::run(io, sessions.acquire(key, probe), test::Until::Done);
}

std::span<const char> bytes(const std::string& s) { return {s.data(), s.size()}; }

http::ResponseHead ok_head() { return {200, "OK", {}}; }

}  // namespace

TEST_CASE("key session: the first request fills, the next follows and streams the body as it arrives") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto writer = acquire(io, sessions, "k");
  REQUIRE(writer.kind == Kind::Fill);
  auto follower = acquire(io, sessions, "k");
  REQUIRE(follower.kind == Kind::Follow);
  CHECK(writer.permit->followers() == 1);

  writer.permit->publish_head(ok_head(), 6, "");
  writer.permit->append(bytes("abc"));
  CHECK(test::run(io, follower.follow.wait_for_head(1s), test::Until::Done) == FillState::Streaming);
  auto first = test::run(io, follower.follow.read(), test::Until::Done);
  REQUIRE(first.has_value());
  CHECK(std::string(first->data(), first->size()) == "abc");
  writer.permit->append(bytes("def"));
  writer.permit->complete();
  auto second = test::run(io, follower.follow.read(), test::Until::Done);
  REQUIRE(second.has_value());
  CHECK(std::string(second->data(), second->size()) == "def");
  auto end = test::run(io, follower.follow.read(), test::Until::Done);
  REQUIRE(end.has_value());
  CHECK(end->empty());
  writer.permit.finish();
  // The key is free again: the next request fills.
  CHECK(acquire(io, sessions, "k").kind == Kind::Fill);
}

TEST_CASE("key session: a permit dropped before its head fails the fill and frees the key") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto follower = [&] {
    auto writer = acquire(io, sessions, "k");
    REQUIRE(writer.kind == Kind::Fill);
    return acquire(io, sessions, "k");
  }();  // the writer's permit is gone here, without an outcome
  REQUIRE(follower.kind == Kind::Follow);
  CHECK(test::run(io, follower.follow.wait_for_head(1s), test::Until::Done) == FillState::Failed);
  // The followers compete again: one of them fills now.
  CHECK(acquire(io, sessions, "k").kind == Kind::Fill);
}

TEST_CASE("key session: a writer that dies mid-body fails its followers' reads") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto writer = acquire(io, sessions, "k");
  auto follower = acquire(io, sessions, "k");
  writer.permit->publish_head(ok_head(), 100, "");
  writer.permit->append(bytes("partial"));
  writer.permit = WritePermit();  // dropped: abandoned mid-body
  auto first = test::run(io, follower.follow.read(), test::Until::Done);
  REQUIRE(first.has_value());
  CHECK(first->size() == 7);
  auto next = test::run(io, follower.follow.read(), test::Until::Done);
  CHECK_FALSE(next.has_value());
}

TEST_CASE("key session: a follower waits at most follower_timeout for the head") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto writer = acquire(io, sessions, "k");
  auto follower = acquire(io, sessions, "k");
  auto started = std::chrono::steady_clock::now();
  auto state = test::run(io, follower.follow.wait_for_head(sessions.settings().follower_timeout), test::Until::Done);
  CHECK(state == FillState::Pending);
  CHECK(std::chrono::steady_clock::now() - started >= 50ms);
}

TEST_CASE("key session: a stalled fill ends a follower's read after the idle timeout") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto writer = acquire(io, sessions, "k");
  auto follower = acquire(io, sessions, "k");
  writer.permit->publish_head(ok_head(), std::nullopt, "");
  follower.follow.set_idle_timeout(30ms);
  auto read = test::run(io, follower.follow.read(), test::Until::Done);
  REQUIRE_FALSE(read.has_value());
  CHECK(read.error() == Errc::upstream_idle_timeout);
}

TEST_CASE("key session: a fill older than max_fill_age takes no new followers") {
  boost::asio::io_context io;
  FakeClock clock;
  KeySessions sessions(settings(), nullptr, nullptr, clock.fn());
  auto old_writer = acquire(io, sessions, "k");
  clock.now += 59s;
  CHECK(acquire(io, sessions, "k").kind == Kind::Follow);
  clock.now += 2s;
  auto new_writer = acquire(io, sessions, "k");
  CHECK(new_writer.kind == Kind::Fill);
  // The old fill ending does not free the key the new one holds.
  old_writer.permit.finish();
  CHECK(acquire(io, sessions, "k").kind == Kind::Follow);
}

TEST_CASE("key session: an uncacheable key skips coalescing for hit_for_miss") {
  boost::asio::io_context io;
  FakeClock clock;
  KeySessions sessions(settings(), nullptr, nullptr, clock.fn());
  auto writer = acquire(io, sessions, "k");
  auto follower = acquire(io, sessions, "k");
  writer.permit->release(Release::FetchAlone);
  writer.permit.finish(WritePermit::Outcome::Uncacheable);
  CHECK(test::run(io, follower.follow.wait_for_head(1s), test::Until::Done) == FillState::Released);
  CHECK(follower.follow.fill().release_reason() == Release::FetchAlone);
  CHECK(acquire(io, sessions, "k").kind == Kind::Alone);
  clock.now += 11s;
  CHECK(acquire(io, sessions, "k").kind == Kind::Fill);
}

TEST_CASE("key session: a follower of another variant can tell (Vary)") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto writer = acquire(io, sessions, "k");
  auto follower = acquire(io, sessions, "k");
  http::Headers writer_request, follower_request;
  writer_request.add("Accept-Language", "en");
  follower_request.add("Accept-Language", "de");
  http::ResponseHead head = ok_head();
  head.headers.add("Vary", "Accept-Language");
  writer.permit->publish_head(head, 0, *cache::vary_key("accept-language", writer_request));
  REQUIRE(test::run(io, follower.follow.wait_for_head(1s), test::Until::Done) ==
          FillState::Streaming);
  auto names = cache::vary_names(follower.follow.fill().head().headers);
  CHECK(cache::vary_key(names, follower_request) != follower.follow.fill().variant());
  CHECK(cache::vary_key(names, writer_request) == follower.follow.fill().variant());
}

TEST_CASE("key session: a follower that leaves stops counting at once") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto writer = acquire(io, sessions, "k");
  {
    auto a = acquire(io, sessions, "k");
    auto b = acquire(io, sessions, "k");
    CHECK(writer.permit->followers() == 2);
  }
  CHECK(writer.permit->followers() == 0);
}

TEST_CASE("key session: with coalescing off every request goes alone") {
  boost::asio::io_context io;
  auto s = settings();
  s.enabled = false;
  KeySessions sessions(s, nullptr, nullptr);
  CHECK(acquire(io, sessions, "k").kind == Kind::Alone);
  CHECK(acquire(io, sessions, "k").kind == Kind::Alone);
}

TEST_CASE("key session (fleet): Redis away degrades to local coalescing, or to none with fail-open") {
  boost::asio::io_context io;
  auto lock = std::make_shared<ScriptedLock>(std::vector{ScriptedLock::Answer::Unavailable});
  KeySessions local(settings(), lock, nullptr);
  auto writer = acquire(io, local, "k");
  CHECK(writer.kind == Kind::Fill);
  CHECK(writer.permit.lock() == nullptr);
  CHECK(acquire(io, local, "k").kind == Kind::Follow);

  auto s = settings();
  s.fleet_fail_open = true;
  KeySessions open(s, lock, nullptr);
  CHECK(acquire(io, open, "k").kind == Kind::Alone);
  CHECK(acquire(io, open, "k").kind == Kind::Alone);  // nothing held the key
}

TEST_CASE("key session (fleet): the lock holder fills; a waiter answers from the store once it is there") {
  boost::asio::io_context io;
  auto free_lock = std::make_shared<ScriptedLock>(std::vector{ScriptedLock::Answer::Acquired});
  KeySessions holder(settings(), free_lock, nullptr);
  auto filled = acquire(io, holder, "k");
  REQUIRE(filled.kind == Kind::Fill);
  REQUIRE(filled.permit.lock() != nullptr);
  test::run(io, filled.permit.release_lock(), test::Until::Done);
  CHECK(free_lock->releases == 1);

  auto taken = std::make_shared<ScriptedLock>(std::vector{ScriptedLock::Answer::Taken});
  KeySessions waiter(settings(), taken, nullptr);
  int probes = 0;
  PeerProbe probe = [&probes]() -> boost::asio::awaitable<PeerView> {
    ++probes;
    co_return PeerView{probes < 3 ? PeerView::Nothing : PeerView::Stored, std::nullopt};
  };
  CHECK(acquire(io, waiter, "k", probe).kind == Kind::Stored);
  CHECK(probes == 3);
  CHECK(taken->attempts == 3);
}

TEST_CASE("key session (fleet): a free lock is no proof of a miss: the store is looked at again") {
  // Another instance stored the object and released its lock between this
  // request's lookup and its lock: taking the free lock must not fetch it twice.
  boost::asio::io_context io;
  auto free_lock = std::make_shared<ScriptedLock>(std::vector{ScriptedLock::Answer::Acquired});
  KeySessions sessions(settings(), free_lock, nullptr);
  PeerProbe stored = []() -> boost::asio::awaitable<PeerView> { co_return PeerView{PeerView::Stored, std::nullopt}; };
  CHECK(acquire(io, sessions, "k", stored).kind == Kind::Stored);
  CHECK(free_lock->releases == 1);  // given back at once
  // Nothing there: this instance fills, holding the lock.
  PeerProbe nothing = []() -> boost::asio::awaitable<PeerView> { co_return PeerView{}; };
  auto filled = acquire(io, sessions, "k2", nothing);
  REQUIRE(filled.kind == Kind::Fill);
  CHECK(filled.permit.lock() != nullptr);
  test::run(io, filled.permit.release_lock(), test::Until::Done);
}

TEST_CASE("key session (fleet): a waiter streams a fill another instance announces") {
  boost::asio::io_context io;
  auto taken = std::make_shared<ScriptedLock>(std::vector{ScriptedLock::Answer::Taken});
  KeySessions waiter(settings(), taken, nullptr);
  PeerProbe probe = []() -> boost::asio::awaitable<PeerView> {
    storage::Hit partial;
    partial.meta.status = 200;
    co_return PeerView{PeerView::Streaming, std::move(partial)};
  };
  auto got = acquire(io, waiter, "k", probe);
  REQUIRE(got.kind == Kind::PeerStream);
  REQUIRE(got.in_progress);
  CHECK(got.in_progress->meta.status == 200);
  // It feeds this instance's followers: it holds the local permit.
  REQUIRE(got.permit);
  CHECK(acquire(io, waiter, "k").kind == Kind::Follow);
}

TEST_CASE("key session (fleet): a waiter past follower_timeout fills itself") {
  boost::asio::io_context io;
  FakeClock clock;
  auto taken = std::make_shared<ScriptedLock>(std::vector{ScriptedLock::Answer::Taken});
  KeySessions waiter(settings(), taken, nullptr, clock.fn());
  PeerProbe probe = [&clock]() -> boost::asio::awaitable<PeerView> {
    clock.now += 30ms;
    co_return PeerView{};
  };
  auto got = acquire(io, waiter, "k", probe);
  CHECK(got.kind == Kind::Fill);
  CHECK(got.permit.lock() == nullptr);
  CHECK(taken->attempts == 2);
}

TEST_CASE("key session: a follower's patience does not run while its writer waits for another instance") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto writer = acquire(io, sessions, "k");
  auto follower = acquire(io, sessions, "k");
  writer.permit->await_peer();
  // The writer waits 120 ms for the other instance, then asks the origin.
  boost::asio::steady_timer peer_done(io, 120ms);
  peer_done.async_wait([&](auto) { writer.permit->fetch_here(); });
  auto started = std::chrono::steady_clock::now();
  auto state = test::run(io, follower.follow.wait_for_head(50ms), test::Until::Done);
  CHECK(state == FillState::Pending);
  // 120 ms for the peer, then the whole 50 ms of patience for the origin.
  CHECK(std::chrono::steady_clock::now() - started >= 170ms);
}

TEST_CASE("key session: the first follower out of patience replaces the writer; the others follow it") {
  boost::asio::io_context io;
  KeySessions sessions(settings(), nullptr, nullptr);
  auto slow_writer = acquire(io, sessions, "k");
  auto first = acquire(io, sessions, "k");
  auto second = acquire(io, sessions, "k");
  REQUIRE(first.kind == Kind::Follow);
  REQUIRE(second.kind == Kind::Follow);
  auto given_up = first.follow.shared_fill();
  // Both gave up on the slow fill; the first to come back is elected.
  auto elected = test::run(io, sessions.acquire("k", {}, given_up), test::Until::Done);
  CHECK(elected.kind == Kind::Fill);
  auto after = test::run(io, sessions.acquire("k", {}, second.follow.shared_fill()), test::Until::Done);
  REQUIRE(after.kind == Kind::Follow);
  CHECK(&after.follow.fill() == &elected.permit.fill());
  // The slow writer finishing later leaves the new fill in place.
  slow_writer.permit.finish();
  CHECK(acquire(io, sessions, "k").kind == Kind::Follow);
}

TEST_CASE("key session (fleet): the held lock is renewed while the fill runs and released when dropped") {
  boost::asio::io_context io;
  auto lock = std::make_shared<ScriptedLock>(std::vector{ScriptedLock::Answer::Acquired});
  auto s = settings();
  s.lock_ttl = 300ms;  // renewed every 100 ms
  KeySessions sessions(s, lock, nullptr);
  PeerProbe nothing = []() -> boost::asio::awaitable<PeerView> { co_return PeerView{}; };
  auto filled = acquire(io, sessions, "k", nothing);
  REQUIRE(filled.kind == Kind::Fill);
  REQUIRE(filled.permit.lock() != nullptr);
  io.restart();
  io.run_for(350ms);  // a fill whose origin sends nothing for a while
  CHECK(lock->extends >= 2);
  CHECK(lock->releases == 0);
  filled.permit.finish();  // dropped without release_lock: the lease gives the lock back
  io.restart();
  io.run_for(50ms);
  CHECK(lock->releases == 1);
  const int extends = lock->extends;
  io.restart();
  io.run_for(250ms);
  CHECK(lock->extends == extends);  // and stops renewing
}
