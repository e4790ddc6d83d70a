// FleetBuckets on Redis (gateway/fleet_buckets.hpp): GCRA in one Lua script,
// so reading the key's TAT, deciding and writing it back are one atomic step
// on the server, timed by the server's own clock (TIME) so that the
// instances' clocks never need to agree. The script is sent by its SHA-1
// (EVALSHA) and in full only when the server answers NOSCRIPT (first use,
// after a restart or SCRIPT FLUSH). Keys expire once their bucket is full
// again (PEXPIRE = TAT - now), so an idle key costs Redis nothing.
//
// The arithmetic is gcra.hpp's gcra_step, in whole microseconds; the script
// answers {admitted, retry_after_us, reset_after_us} and decision_from()
// turns that into the same Decision the local limiter gives.
#include <openssl/sha.h>

#include <algorithm>
#include <boost/asio/this_coro.hpp>

#include "connection.hpp"
#include "relay/gateway/fleet_buckets.hpp"
#include "relay/util/log.hpp"
#include "store.hpp"

namespace relay::gateway {
namespace {

namespace asio = boost::asio;
using storage::redis::Command;
using storage::redis::Reply;

// KEYS[1] the bucket; ARGV[1] interval (us), ARGV[2] tolerance (us).
// TAT is written with %.0f: Lua 5.1 numbers are doubles and tostring()
// would print them as 1.7e+15, losing the microseconds.
constexpr const char* kScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - tolerance
if now < allow_at then
  return {0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, 0, next_tat - now}
)lua";

std::string sha1_hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 0xf];
  }
  return out;
}

class RedisBuckets final : public FleetBuckets {
 public:
  RedisBuckets(std::string prefix, storage::redis::Options options)
      : prefix_(std::move(prefix)), sha_(sha1_hex(kScript)), pool_(std::move(options)) {}

  asio::awaitable<Result<Decision>> decide(const std::string& name, const Bucket& bucket) override {
    auto conn = pool_.for_executor(co_await asio::this_coro::executor);
    const std::string key = prefix_ + "rl:" + name;
    const std::string interval = std::to_string(bucket.interval.count());
    const std::string tolerance = std::to_string(bucket.tolerance().count());
    // Built before the co_await: GCC 12 miscompiles (rejects) a braced
    // list of string literals inside a co_await expression.
    Command by_sha{"EVALSHA", sha_, "1", key, interval, tolerance};
    auto reply = co_await conn->command(std::move(by_sha));
    if (reply && reply->is_error() && reply->str.starts_with("NOSCRIPT")) {
      Command whole{"EVAL", kScript, "1", key, interval, tolerance};
      reply = co_await conn->command(std::move(whole));
    }
    if (!reply) co_return reply.error();
    const auto& r = *reply;
    if (r.type != Reply::Type::array || r.elements.size() != 3 ||
        std::any_of(r.elements.begin(), r.elements.end(),
                    [](const Reply& e) { return e.type != Reply::Type::integer; })) {
      log::debug("rate limit script: unexpected reply from redis", r.is_error() ? ": " : "", r.str);
      co_return make_error_code(Errc::storage_unavailable);
    }
    co_return decision_from(r.elements[0].integer == 1, Micros(r.elements[1].integer),
                            Micros(r.elements[2].integer), bucket);
  }

 private:
  std::string prefix_;
  std::string sha_;
  storage::redis::ConnectionPool pool_;
};

}  // namespace

std::shared_ptr<FleetBuckets> make_redis_fleet_buckets(const config::RedisStorageConfig& cfg) {
  return std::make_shared<RedisBuckets>(cfg.key_prefix, storage::redis::options_for(cfg));
}

}  // namespace relay::gateway
