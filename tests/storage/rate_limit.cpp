// The fleet-wide rate limit's Lua script (storage/redis/rate_limit.cpp)
// against a real redis-server: two "instances" (two FleetBuckets, each with
// its own connections and loop) share one bucket exactly; keys live under
// <prefix>rl:<name> and expire once the bucket is full again; a flushed
// script cache is refilled (NOSCRIPT -> EVAL); a dead server is an error,
// quickly, so the caller can decide locally.
#include <hiredis/hiredis.h>

#include <thread>

#include "relay/gateway/fleet_buckets.hpp"
#include "support.hpp"

namespace relay::storage::test {
namespace {

using gateway::Bucket;
using gateway::Decision;
using gateway::FleetBuckets;
using gateway::Micros;

config::RedisStorageConfig redis_config(const RedisServer& server, const std::string& prefix) {
  config::RedisStorageConfig cfg;
  cfg.url = config::RedisUrl::parse(server.url());
  cfg.key_prefix = prefix;
  return cfg;
}

Bucket bucket(Micros interval, double burst) {
  Bucket b;
  b.interval = interval;
  b.burst = burst;
  return b;
}

Result<Decision> decide(Loop& loop, FleetBuckets& buckets, const std::string& name, const Bucket& b) {
  return loop.run(buckets.decide(name, b), 10s);
}

// One instance on the shared server, under a prefix of its own.
struct OneInstance {
  RedisServer& server = shared_redis();
  std::string prefix = unique_prefix();
  Loop loop;
  std::shared_ptr<FleetBuckets> buckets = gateway::make_redis_fleet_buckets(redis_config(server, prefix));

  Result<Decision> decide(const std::string& name, const Bucket& b) {
    return test::decide(loop, *buckets, name, b);
  }
};

// One command on a connection of its own (SCRIPT FLUSH and the like).
void side_command(int port, const char* command) {
  redisContext* c = redisConnect("127.0.0.1", port);
  REQUIRE(c != nullptr);
  REQUIRE(c->err == 0);
  auto* reply = static_cast<redisReply*>(redisCommand(c, command));
  REQUIRE(reply != nullptr);
  freeReplyObject(reply);
  redisFree(c);
}

}  // namespace

TEST_CASE("fleet rate limit: two instances share one bucket on one redis-server") {
  auto& server = shared_redis();
  const auto prefix = unique_prefix();
  Loop loop_a, loop_b;
  auto a = gateway::make_redis_fleet_buckets(redis_config(server, prefix));
  auto b = gateway::make_redis_fleet_buckets(redis_config(server, prefix));
  const auto slow = bucket(10s, 5);  // nothing refills during the test

  int passed = 0;
  std::int64_t last_remaining = 5;
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    auto d = i % 2 == 0 ? decide(loop_a, *a, "default:c:10.0.0.1", slow)
                        : decide(loop_b, *b, "default:c:10.0.0.1", slow);
    REQUIRE_MESSAGE(d.has_value(), d.error().message());
    CHECK(d->limit == 5);
    if (d->allowed) {
      ++passed;
      CHECK(d->remaining == last_remaining - 1);
      last_remaining = d->remaining;
    } else {
      CHECK(d->remaining == 0);
      // The oldest of the five admitted will have drained 10 s after the first.
      CHECK(d->retry_after > 9s);
      CHECK(d->retry_after <= 10s);
    }
  }
  CHECK(passed == 5);
  // Another key, another bucket.
  auto other = decide(loop_b, *b, "default:c:10.0.0.2", slow);
  REQUIRE(other.has_value());
  CHECK(other->allowed);
  CHECK(other->remaining == 4);

  const auto keys = server.keys(prefix + "rl:*");
  CHECK(keys == std::vector<std::string>{prefix + "rl:default:c:10.0.0.1", prefix + "rl:default:c:10.0.0.2"});
  // The key lives until its bucket is full again: 5 * 10 s from the first request.
  const auto ttl = server.pttl(prefix + "rl:default:c:10.0.0.1");
  CHECK(ttl > 45'000);
  CHECK(ttl <= 50'000);
}

TEST_CASE("fleet rate limit: the bucket refills on the server's clock and the key then expires") {
  OneInstance one;
  const auto quick = bucket(100ms, 2);
  REQUIRE(one.decide("r:k", quick)->allowed);
  REQUIRE(one.decide("r:k", quick)->allowed);
  auto refused = one.decide("r:k", quick);
  REQUIRE(refused.has_value());
  REQUIRE_FALSE(refused->allowed);
  CHECK(refused->retry_after <= 100ms);
  std::this_thread::sleep_for(std::chrono::microseconds(refused->retry_after.count()) + 20ms);
  CHECK(one.decide("r:k", quick)->allowed);
  // Full again 200 ms after the last admitted request at the latest.
  std::this_thread::sleep_for(400ms);
  CHECK(one.server.keys(one.prefix + "rl:*").empty());
}

TEST_CASE("fleet rate limit: a flushed script cache is refilled (NOSCRIPT -> EVAL)") {
  OneInstance one;
  const auto slow = bucket(10s, 3);
  REQUIRE(one.decide("r:k", slow)->allowed);
  side_command(one.server.port(), "SCRIPT FLUSH");
  auto after = one.decide("r:k", slow);
  REQUIRE_MESSAGE(after.has_value(), after.error().message());
  CHECK(after->allowed);
  CHECK(after->remaining == 1);
}

TEST_CASE("fleet rate limit: a dead server is an error, quickly") {
  RedisServer server;
  server.start();
  const auto prefix = unique_prefix();
  Loop loop;
  auto cfg = redis_config(server, prefix);
  cfg.command_timeout = 300ms;
  auto buckets = gateway::make_redis_fleet_buckets(cfg);
  const auto slow = bucket(10s, 3);
  REQUIRE(decide(loop, *buckets, "r:k", slow)->allowed);
  server.kill();
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto d = decide(loop, *buckets, "r:k", slow);
    CHECK_FALSE(d.has_value());
    CHECK(seconds_since(start) < 1.0);
  }
}

}  // namespace relay::storage::test
