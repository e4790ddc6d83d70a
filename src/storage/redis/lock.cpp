// DistributedLock on Redis (see distributed_lock.hpp). Tokens are random
// per acquisition, so a holder whose lock expired can never release or
// extend the lock another instance took over. A SET NX whose reply did not
// come in time may still run later (a frozen Redis executes its queue when
// it wakes up): its token is then deleted by compare-and-delete, retried
// until Redis answers again, so no lock outlives the request that gave up
// on it by more than the time Redis takes to come back.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "connection.hpp"
#include "endpoint.hpp"
#include "fill_notices.hpp"
#include "relay/storage/distributed_lock.hpp"

namespace relay::storage {

namespace asio = boost::asio;

namespace {

// ARGV[2], ARGV[3]: the fill channel and the lock's name, to wake waiters.
constexpr const char* release_script =
    "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) "
    "redis.call('publish', ARGV[2], ARGV[3]) return 1 else return 0 end";
constexpr const char* extend_script =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

std::string new_token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    auto value = rng();
    for (int i = 0; i < 16; ++i, value >>= 4) out[half * 16 + i] = hex[value & 0xf];
  }
  return out;
}

class RedisLock final : public DistributedLock, public std::enable_shared_from_this<RedisLock> {
 public:
  RedisLock(std::string prefix, redis::Options options)
      : prefix_(std::move(prefix)),
        notices_(redis::FillNotices::shared(options, prefix_ + "fill")),
        pool_(std::move(options)) {}

  asio::awaitable<Result<std::optional<Held>>> try_acquire(const std::string& name,
                                                           std::chrono::milliseconds ttl) override {
    auto conn = pool_.for_executor(co_await asio::this_coro::executor);
    Held held{prefix_ + "lock:" + name, new_token()};
    redis::Command set{"SET", held.name, held.token, "NX", "PX", std::to_string(ttl.count())};
    auto reply = co_await conn->command(std::move(set));
    if (!reply) {
      asio::co_spawn(conn->executor(), withdraw(shared_from_this(), held), asio::detached);
      co_return reply.error();
    }
    if (reply->is_error()) co_return make_error_code(Errc::storage_unavailable);
    if (reply->type == redis::Reply::Type::nil) co_return std::optional<Held>{};
    co_return std::optional<Held>{std::move(held)};
  }

  asio::awaitable<Result<bool>> extend(const Held& held, std::chrono::milliseconds ttl) override {
    auto conn = pool_.for_executor(co_await asio::this_coro::executor);
    redis::Command eval{"EVAL", extend_script, "1", held.name, held.token, std::to_string(ttl.count())};
    auto reply = co_await conn->command(std::move(eval));
    if (!reply) co_return Result<bool>(boost::system::in_place_error, reply.error());
    co_return reply->type == redis::Reply::Type::integer && reply->integer == 1;
  }

  asio::awaitable<void> release(const Held& held) override {
    auto conn = pool_.for_executor(co_await asio::this_coro::executor);
    co_await conn->command(release_command(held));
  }

  std::unique_ptr<ChangeWatch> watch(const std::string& name, const asio::any_io_executor& executor) override {
    return notices_->watch(name, executor);
  }

 private:
  // The fencing delete of a lock request that timed out. A frozen Redis
  // runs a dead connection's queued SET as soon as it wakes, before it has
  // accepted and served a new connection, so once this delete is answered
  // the SET has run (1: undone) or never will (0); the second try after a
  // second is for a Redis that took longer. Redis away for longer than
  // `patience`: the SET, if it ever runs, expires after its TTL anyway.
  static asio::awaitable<void> withdraw(std::shared_ptr<RedisLock> self, Held held) {
    const auto executor = co_await asio::this_coro::executor;
    auto conn = self->pool_.for_executor(executor);
    asio::steady_timer timer(executor);
    constexpr auto patience = std::chrono::seconds(60);
    const auto give_up = std::chrono::steady_clock::now() + patience;
    int answered = 0;
    while (answered < 2 && std::chrono::steady_clock::now() < give_up) {
      auto reply = co_await conn->command(self->release_command(held));
      if (reply && reply->type == redis::Reply::Type::integer) {
        if (reply->integer == 1) co_return;
        ++answered;
      }
      timer.expires_after(answered ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(200));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // Compare-and-delete, waking whoever waits for the key.
  redis::Command release_command(const Held& held) const {
    return {"EVAL", release_script, "1", held.name, held.token, notices_->channel(), lock_name(held)};
  }
  // The name try_acquire was given (the notices' key).
  std::string lock_name(const Held& held) const { return held.name.substr(prefix_.size() + 5); }

  std::string prefix_;
  std::shared_ptr<redis::FillNotices> notices_;
  redis::ConnectionPool pool_;
};

}  // namespace

std::shared_ptr<DistributedLock> make_redis_lock(const config::RedisStorageConfig& cfg) {
  return std::make_shared<RedisLock>(cfg.key_prefix, redis::options_for(cfg));
}

}  // namespace relay::storage
