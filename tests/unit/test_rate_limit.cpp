// The rate limiter's pure parts: GCRA arithmetic (injected clock: burst,
// steady rate, retry_after), the local buckets (expiry, bounded memory,
// shards under threads), the RateLimit fields (draft-ietf-httpapi-
// ratelimit-headers-11) and the configuration of a limit ([server.rate_limit]
// from file and environment, an inline table, the checks and their messages).
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "config_errors.hpp"
#include "relay/config/config.hpp"
#include "relay/config/rate_limit.hpp"
#include "relay/gateway/gcra.hpp"
#include "relay/gateway/local_limiter.hpp"
#include "relay/gateway/rate_limit_fields.hpp"

using namespace relay;
using namespace relay::gateway;
using namespace std::chrono_literals;

namespace {

using relay::test::config_load_error;

config::RateLimitConfig limit_of(double rate, double burst, config::Duration per = 1s) {
  config::RateLimitConfig c;
  c.rate = rate;
  c.burst = burst;
  c.per = per;
  return c;
}

// Runs `count` requests at `now` on one key; the decisions in order.
std::vector<Decision> burst_at(LocalLimiter& l, const std::string& key, const Bucket& b, Micros now,
                               int count) {
  std::vector<Decision> out;
  for (int i = 0; i < count; ++i) out.push_back(l.decide(key, b, now));
  return out;
}

// prefix + n, built with append: GCC 12 at -O3 warns falsely (-Wrestrict) on "literal" + std::string.
std::string numbered(std::string prefix, int n) {
  return prefix.append(std::to_string(n));
}

int admitted(const std::vector<Decision>& ds) {
  int n = 0;
  for (const auto& d : ds) n += d.allowed ? 1 : 0;
  return n;
}


}  // namespace

TEST_CASE("gcra: a bucket from a limit (interval = per / rate, burst defaults to the rate)") {
  auto b = Bucket::of(limit_of(5, 0));
  CHECK(b.interval == 200ms);
  CHECK(b.burst == 5);
  CHECK(b.tolerance() == 1s);
  b = Bucket::of(limit_of(100, 10, 60s));
  CHECK(b.interval == 600ms);
  CHECK(b.burst == 10);
  // A rate below one per `per` still admits one request at a time.
  b = Bucket::of(limit_of(0.5, 0));
  CHECK(b.interval == 2s);
  CHECK(b.burst == 1);
}

TEST_CASE("gcra: a fresh key admits exactly `burst` at once, then one per interval") {
  const auto b = Bucket::of(limit_of(5, 5));
  const Micros t0 = 1'000'000'000us;
  std::optional<Micros> tat;
  for (int i = 0; i < 5; ++i) {
    CAPTURE(i);
    auto step = gcra_step(tat, t0, b);
    REQUIRE(step.decision.allowed);
    CHECK(step.decision.limit == 5);
    CHECK(step.decision.remaining == 4 - i);
    CHECK(step.decision.reset_after == Micros(200'000 * (i + 1)));
    CHECK(step.decision.retry_after == 0us);
    tat = step.new_tat;
  }
  auto refused = gcra_step(tat, t0, b);
  CHECK_FALSE(refused.decision.allowed);
  CHECK_FALSE(refused.new_tat.has_value());  // a refusal costs nothing
  CHECK(refused.decision.remaining == 0);
  CHECK(refused.decision.retry_after == 200ms);
  CHECK(refused.decision.reset_after == 1s);
  // 150 ms later: 50 ms still to wait.
  refused = gcra_step(tat, t0 + 150ms, b);
  CHECK_FALSE(refused.decision.allowed);
  CHECK(refused.decision.retry_after == 50ms);
  // At exactly the interval one more passes, and only one.
  auto again = gcra_step(tat, t0 + 200ms, b);
  REQUIRE(again.decision.allowed);
  CHECK(again.decision.remaining == 0);
  CHECK_FALSE(gcra_step(again.new_tat, t0 + 200ms, b).decision.allowed);
}

TEST_CASE("gcra: a steady client at the rate is never refused; one faster is held to the rate") {
  const auto b = Bucket::of(limit_of(10, 2));  // one per 100 ms, bucket of 2
  std::optional<Micros> tat;
  Micros now = 5s;
  for (int i = 0; i < 100; ++i, now += 100ms) {
    auto step = gcra_step(tat, now, b);
    REQUIRE_MESSAGE(step.decision.allowed, "request " << i);
    tat = step.new_tat;
  }
  // Twice the rate for 10 s: the burst, then every other request.
  tat.reset();
  int passed = 0;
  for (int i = 0; i < 200; ++i, now += 50ms) {
    auto step = gcra_step(tat, now, b);
    if (step.decision.allowed) {
      ++passed;
      tat = step.new_tat;
    }
  }
  CHECK(passed >= 100);
  CHECK(passed <= 102);  // 10 s at 10/s, plus the bucket of 2
}

TEST_CASE("gcra: an idle key is whole again after burst * interval") {
  const auto b = Bucket::of(limit_of(2, 4));  // 500 ms each, bucket of 4
  std::optional<Micros> tat;
  for (int i = 0; i < 4; ++i) tat = gcra_step(tat, 0us, b).new_tat;
  CHECK_FALSE(gcra_step(tat, 0us, b).decision.allowed);
  auto later = gcra_step(tat, 2s, b);  // 4 * 500 ms
  REQUIRE(later.decision.allowed);
  CHECK(later.decision.remaining == 3);
}

TEST_CASE("gcra: a fractional burst rounds the advertised limit down") {
  const auto b = Bucket::of(limit_of(1, 2.5));
  std::optional<Micros> tat;
  auto first = gcra_step(tat, 0us, b);
  CHECK(first.decision.limit == 2);
  tat = first.new_tat;
  tat = gcra_step(tat, 0us, b).new_tat;
  auto third = gcra_step(tat, 0us, b);
  CHECK_FALSE(third.decision.allowed);
  CHECK(third.decision.retry_after == 500ms);
}

TEST_CASE("local limiter: keys have separate buckets") {
  LocalLimiter l;
  const auto b = Bucket::of(limit_of(5, 5));
  CHECK(admitted(burst_at(l, "default:c:10.0.0.1", b, 0us, 10)) == 5);
  CHECK(admitted(burst_at(l, "default:c:10.0.0.2", b, 0us, 10)) == 5);
  CHECK(admitted(burst_at(l, "other:c:10.0.0.1", b, 0us, 10)) == 5);
  CHECK(l.size() == 3);
  // Recovery after retry_after.
  auto refused = l.decide("default:c:10.0.0.1", b, 0us);
  REQUIRE_FALSE(refused.allowed);
  CHECK(l.decide("default:c:10.0.0.1", b, refused.retry_after).allowed);
}

TEST_CASE("local limiter: a key whose bucket refilled is forgotten") {
  LocalLimiter l;
  const auto b = Bucket::of(limit_of(10, 1));  // full again 100 ms after its last request
  l.decide("a", b, 0us);
  l.decide("b", b, 0us);
  CHECK(l.size() == 2);
  // Much later, each decision trims expired keys at the cold end of its
  // shard; a thousand new keys touch every shard (16) many times over.
  for (int i = 0; i < 1000; ++i) l.decide(numbered("new", i), b, 1s);
  CHECK(l.size() == 1000);
  CHECK(l.evicted() == 0);  // forgotten as expired, not evicted
  // A forgotten key behaves as new: a full bucket.
  CHECK(l.decide("a", b, 1s).allowed);
}

TEST_CASE("local limiter: memory is bounded; the least recently used keys go first") {
  LocalLimiter l(LocalLimiter::kShards * 4);         // 4 keys per shard
  const auto b = Bucket::of(limit_of(1, 1, 3600s));  // keys stay "busy" for an hour
  constexpr int kKeys = 2000;
  for (int i = 0; i < kKeys; ++i) l.decide(numbered("k", i), b, 0us);
  CHECK(l.size() <= LocalLimiter::kShards * 4);
  CHECK(l.evicted() == kKeys - l.size());
  // The most recent key is remembered (refused), an early one forgotten (admitted).
  CHECK_FALSE(l.decide(numbered("k", kKeys - 1), b, 0us).allowed);
  CHECK(l.decide("k0", b, 0us).allowed);
}

TEST_CASE("local limiter: threads deciding on one key never admit more than the bucket") {
  LocalLimiter l;
  const auto b = Bucket::of(limit_of(1, 50, 3600s));
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) passed += l.decide("shared", b, 0us).allowed ? 1 : 0;
    });
  for (auto& t : threads) t.join();
  CHECK(passed.load() == 50);
}

TEST_CASE(
    "rate limit fields: RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-11 §3, §4)") {
  const auto b = Bucket::of(limit_of(5, 5));
  CHECK(policy_field("default", b) == "\"default\";q=5;w=1");
  CHECK(policy_field("per-minute", Bucket::of(limit_of(100, 0, 60s))) == "\"per-minute\";q=100;w=60");
  // sf-string escaping of the policy name.
  CHECK(policy_field("a\"b\\c", b) == "\"a\\\"b\\\\c\";q=5;w=1");

  auto first = gcra_step(std::nullopt, 0us, b);
  CHECK(ratelimit_field("default", first.decision) == "\"default\";r=4;t=1");
  auto tat = first.new_tat;
  for (int i = 0; i < 4; ++i) tat = gcra_step(tat, 0us, b).new_tat;
  auto refused = gcra_step(tat, 0us, b);
  REQUIRE_FALSE(refused.decision.allowed);
  // Refused: t is Retry-After (§6: Retry-After no earlier than the window's end).
  CHECK(ratelimit_field("default", refused.decision) == "\"default\";r=0;t=1");
  CHECK(retry_after_field(refused.decision) == "1");
}

TEST_CASE("rate limit fields: Retry-After rounds up to whole seconds, at least 1") {
  Decision d;
  d.allowed = false;
  d.retry_after = 1us;
  CHECK(retry_after_field(d) == "1");
  d.retry_after = 1'000'000us;
  CHECK(retry_after_field(d) == "1");
  d.retry_after = 1'000'001us;
  CHECK(retry_after_field(d) == "2");
  d.retry_after = 59'500ms;
  CHECK(retry_after_field(d) == "60");
  CHECK(ceil_seconds(0us) == 0);
}

TEST_CASE("config: [server.rate_limit] from the file, every key") {
  const auto cfg = config::load_from_string(R"(
[server.rate_limit]
rate = 2.5
burst = 10
per = "1m"
key = "header:X-Api-Key"
fleet = true
exempt_hits = true
)",
                                            "relay.toml", {});
  const auto& r = cfg.server.rate_limit;
  CHECK(r.rate == 2.5);
  CHECK(r.burst == 10);
  CHECK(r.per == 60s);
  CHECK(r.key == config::RateLimitConfig::Key::Header);
  CHECK(r.header == "X-Api-Key");
  CHECK(r.fleet);
  CHECK(r.exempt_hits);
  // Off by default.
  CHECK(config::load_defaults({}).server.rate_limit.rate == 0);
}

TEST_CASE("config: [server.rate_limit] from RELAY_SERVER_RATE_LIMIT_*") {
  const auto cfg = config::load_from_string("[server.rate_limit]\nkey = \"bogus\"\n", "relay.toml",
                                            {{"RELAY_SERVER_RATE_LIMIT_RATE", "7"},
                                             {"RELAY_SERVER_RATE_LIMIT_BURST", "0.5e1"},
                                             {"RELAY_SERVER_RATE_LIMIT_KEY", "route"},
                                             {"RELAY_SERVER_RATE_LIMIT_FLEET", "yes"}});
  // The environment replaced the file's bad key before it was read.
  CHECK(cfg.server.rate_limit.key == config::RateLimitConfig::Key::Route);
  CHECK(cfg.server.rate_limit.rate == 7);
  CHECK(cfg.server.rate_limit.burst == 5);
  CHECK(cfg.server.rate_limit.fleet);
  CHECK(config_load_error("", {{"RELAY_SERVER_RATE_LIMIT_RATE", "fast"}}) ==
        "environment RELAY_SERVER_RATE_LIMIT_RATE: expected a number, got \"fast\"");
}

TEST_CASE("config: a bad [server.rate_limit] value names the key and file:line") {
  CHECK(config_load_error("[server.rate_limit]\nrate = -1\n") ==
        "relay.toml:2: server.rate_limit.rate: must be >= 0 (0 = no limit), got -1");
  CHECK(config_load_error("[server.rate_limit]\nrate = 5\n\nburst = 0.5\n") ==
        "relay.toml:4: server.rate_limit.burst: must be 0 (= the rate) or >= 1, got 0.5");
  CHECK(config_load_error("[server.rate_limit]\nrate = \"5\"\n") ==
        "relay.toml:2: server.rate_limit.rate: expected a number, got \"5\"");
  CHECK(config_load_error("[server.rate_limit]\nkey = \"cookie\"\n") ==
        "relay.toml:2: server.rate_limit.key: expected \"client\", \"route\" or \"header:<Field-Name>\", got "
        "\"cookie\"");
  CHECK(config_load_error("[server.rate_limit]\nkey = \"header:\"\n").find("server.rate_limit.key") !=
        std::string::npos);
  CHECK(config_load_error("[server.rate_limit]\nper = \"0s\"\n") ==
        "relay.toml:2: server.rate_limit.per: must be greater than 0");
  CHECK(config_load_error("[server.rate_limit]\nrate = 1e9\nper = \"1ms\"\n") ==
        "relay.toml:2: server.rate_limit.rate: too high for per (more than one request per microsecond)");
  CHECK(config_load_error("[server.rate_limit]\nrat = 1\n") == "relay.toml:2: server.rate_limit.rat: unknown key");
}

TEST_CASE("config: a route's inline rate_limit table") {
  auto doc = toml::parse(R"(
[[routes]]
path = "/limited/*"
rate_limit = { rate = 5, burst = 5, key = "client" }

[[routes]]
path = "/api/*"
rate_limit = { rate = 100, per = "1m", key = "header:Authorization", fleet = true, exempt_hits = true }

[[routes]]
rate_limit = { rate = 5, burst = -2 }

[[routes]]
rate_limit = { rate = 5, color = "red" }
)");
  const auto& routes = *doc["routes"].as_array();
  const auto at = [&](std::size_t i) { return *routes.at(i).as_table()->get("rate_limit")->as_table(); };

  auto first = config::parse_rate_limit(at(0), "routes[1].rate_limit", "relay.toml");
  CHECK(first.rate == 5);
  CHECK(first.burst == 5);
  CHECK(first.per == 1s);
  CHECK(first.key == config::RateLimitConfig::Key::Client);
  CHECK_FALSE(first.fleet);

  auto second = config::parse_rate_limit(at(1), "routes[2].rate_limit", "relay.toml");
  CHECK(second.per == 60s);
  CHECK(second.header == "Authorization");
  CHECK(second.fleet);
  CHECK(second.exempt_hits);
  CHECK(config::effective_burst(second) == 100);

  const auto message = [&](std::size_t i) {
    try {
      config::parse_rate_limit(at(i), numbered("routes[", static_cast<int>(i + 1)).append("].rate_limit"),
                               "relay.toml");
    } catch (const config::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message(2) == "relay.toml:11: routes[3].rate_limit.burst: must be 0 (= the rate) or >= 1, got -2");
  CHECK(message(3) ==
        "relay.toml:14: routes[4].rate_limit.color: unknown key (rate, burst, per, key, fleet, exempt_hits)");
}
