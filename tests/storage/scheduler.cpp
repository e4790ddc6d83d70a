// The maintenance scheduler: its round guard against a real redis-server
// (one instance per scope runs each round, the others skip it; no Redis
// means running locally) and its timer loop driving a real disk sweep.
#include <atomic>
#include <future>
#include <mutex>

#include "support.hpp"
#include "relay/maintenance/scheduler.hpp"
#include "relay/storage/distributed_lock.hpp"
#include "relay/storage/maintenance.hpp"

using namespace relay;
using namespace relay::storage;
using namespace relay::storage::test;
namespace fs = std::filesystem;

namespace {

// A task that counts its rounds: the lock guard is what is under test.
maintenance::Task counting_task(std::string scope, std::atomic<int>& rounds) {
  return {"count", std::move(scope), [&rounds]() -> asio::awaitable<Result<std::uint64_t>> {
            ++rounds;
            co_return std::uint64_t{1};
          }};
}

// One relay instance as far as the guard goes: its own event loop and its
// own lock (own Redis connections). The loop stops before the lock goes, so
// the lock's connections are never touched from two threads.
struct Instance {
  explicit Instance(const std::string& url, const std::string& prefix) {
    config::RedisStorageConfig cfg;
    cfg.url = config::RedisUrl::parse(url);
    cfg.key_prefix = prefix;
    lock = make_redis_lock(cfg);
  }
  ~Instance() { loop.stop(); }
  Loop loop;
  std::shared_ptr<DistributedLock> lock;
};

}  // namespace

TEST_CASE("maintenance: one lock, one scope: each round is run by exactly one of two instances") {
  const auto url = shared_redis().url();
  const auto prefix = unique_prefix();
  Instance a(url, prefix), b(url, prefix);  // two relays sharing one Redis
  std::atomic<int> ran_a{0}, ran_b{0};
  const auto task_a = counting_task("host:/var/cache/relay", ran_a);
  const auto task_b = counting_task("host:/var/cache/relay", ran_b);
  const auto ttl = 300ms;

  constexpr int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    // Both instances reach the round at the same moment.
    auto on_a = std::async(std::launch::async,
                           [&] { return a.loop.run(maintenance::guarded_round(a.lock.get(), task_a, ttl)); });
    auto on_b = std::async(std::launch::async,
                           [&] { return b.loop.run(maintenance::guarded_round(b.lock.get(), task_b, ttl)); });
    auto ra = on_a.get(), rb = on_b.get();
    const int ran = (ra.outcome == maintenance::Outcome::ran) + (rb.outcome == maintenance::Outcome::ran);
    const int skipped =
        (ra.outcome == maintenance::Outcome::skipped) + (rb.outcome == maintenance::Outcome::skipped);
    CHECK(ran == 1);
    CHECK(skipped == 1);
    // Still inside the interval: a latecomer skips too (the lock is not released).
    auto late = a.loop.run(maintenance::guarded_round(a.lock.get(), task_a, ttl));
    CHECK(late.outcome == maintenance::Outcome::skipped);
    std::this_thread::sleep_for(ttl + 50ms);  // the next interval
  }
  CHECK(ran_a + ran_b == rounds);
  auto keys = shared_redis().keys(prefix + "lock:maintenance:count:*");
  CHECK(keys.empty());  // expired by itself, never deleted by a holder
}

TEST_CASE("maintenance: different scopes never skip each other; no Redis means running locally") {
  const auto prefix = unique_prefix();
  Instance a(shared_redis().url(), prefix), b(shared_redis().url(), prefix);
  std::atomic<int> ran_a{0}, ran_b{0};
  const auto task_a = counting_task("host-a:/var/cache/relay", ran_a);
  const auto task_b = counting_task("host-b:/var/cache/relay", ran_b);
  CHECK(a.loop.run(maintenance::guarded_round(a.lock.get(), task_a, 2s)).outcome == maintenance::Outcome::ran);
  CHECK(b.loop.run(maintenance::guarded_round(b.lock.get(), task_b, 2s)).outcome == maintenance::Outcome::ran);
  auto pttl = shared_redis().pttl(prefix + "lock:maintenance:count:host-a:/var/cache/relay");
  CHECK(pttl > 0);
  CHECK(pttl <= 2000);

  RedisServer gone;
  gone.start();
  const auto url = gone.url();
  gone.kill();
  Instance alone(url, unique_prefix());
  std::atomic<int> ran{0};
  const auto task = counting_task("host:/var/cache/relay", ran);
  const auto started = std::chrono::steady_clock::now();
  auto round = alone.loop.run(maintenance::guarded_round(alone.lock.get(), task, 2s));
  CHECK(round.outcome == maintenance::Outcome::ran);
  CHECK(ran == 1);
  CHECK(seconds_since(started) < 3.0);
  // Without any lock at all, likewise.
  CHECK(alone.loop.run(maintenance::guarded_round(nullptr, task, 2s)).outcome == maintenance::Outcome::ran);
}

TEST_CASE("maintenance: the scheduler sweeps on its own and stops promptly") {
  Env env(Kind::disk);
  const auto root = env.disk_root();
  const std::string body = random_body(10'000, 521);
  must_put(env, "expired", expired_meta("expired", body.size()), body);
  must_put(env, "live", text_meta("live", body.size(), 3600s), body);

  std::mutex mutex;
  std::vector<maintenance::Round> rounds;
  std::vector<maintenance::Task> tasks{maintenance::sweep_task(maintainable(env))};
  CHECK(tasks[0].name == "disk_sweep");
  std::string dir_suffix = ":";
  dir_suffix += fs::weakly_canonical(root).string();
  CHECK(tasks[0].scope.ends_with(dir_suffix));
  maintenance::Scheduler scheduler(std::move(tasks), nullptr, 100ms,
                                   [&](const maintenance::Task&, const maintenance::Round& r) {
                                     std::lock_guard lock(mutex);
                                     rounds.push_back(r);
                                   });
  scheduler.start();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (rounds.size() >= 3) break;
    }
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "fewer than 3 rounds in 5 s at 100ms");
    std::this_thread::sleep_for(20ms);
  }
  const auto stopping = std::chrono::steady_clock::now();
  scheduler.stop();
  CHECK(seconds_since(stopping) < 1.0);
  std::lock_guard lock(mutex);
  CHECK(rounds[0].outcome == maintenance::Outcome::ran);
  CHECK(rounds[0].removed == 1);
  CHECK(rounds[1].removed == 0);
  CHECK(count_files(root / "meta") == 1);
  CHECK(is_miss(env, "expired"));
  CHECK(must_fetch(env, "live").has_value());
}
