// Writes a Redis body: full chunks as they fill (SET PX), the first one
// announcing the fill under f: for other instances (kept alive by a
// heartbeat while the writer lives), a partial chunk when the origin
// trickles, and on commit() the last chunk, the metadata and the
// announcement's withdrawal in one transaction (RedisStore::publish).
// Dropped before commit, it deletes its chunks and announcement best-effort.
#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "store.hpp"

namespace relay::storage::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A fill's announcement outlives its writer's last sign of life by this much.
constexpr std::chrono::milliseconds progress_ttl = 3s;
constexpr std::chrono::milliseconds progress_heartbeat = 1s;
// A trickling origin's bytes reach other instances at least this often.
constexpr std::chrono::milliseconds trickle_flush = 100ms;
// Deletes an announcement only if it is still this writer's.
constexpr const char* withdraw_script =
    "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end return 'OK'";

}  // namespace

// A body id is new for every put (format.hpp).
std::string random_id() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seed);
  }();
  std::string id;
  for (int word = 0; word < 2; ++word) {
    auto bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) id += "0123456789abcdef"[bits & 15];
  }
  return id;
}

namespace {

// Keeps a fill's announcement alive while its writer lives, so readers on
// other instances can tell a slow origin from a dead writer.
asio::awaitable<void> keep_announced(std::weak_ptr<Connection> weak, std::string progress_key,
                                     std::shared_ptr<std::atomic<bool>> alive) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(progress_heartbeat);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto conn = weak.lock();
    if (!conn || !alive->load(std::memory_order_relaxed)) co_return;
    conn->send({{"PEXPIRE", progress_key, ms(progress_ttl)}});
  }
}

class RedisWriter final : public BodyWriter {
 public:
  RedisWriter(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, std::string key,
              EntryMeta meta)
      : store_(std::move(store)),
        conn_(std::move(conn)),
        key_(std::move(key)),
        ttl_(ttl_for(meta.keep_for)),
        last_flush_(std::chrono::steady_clock::now()) {
    stored_.meta = std::move(meta);
    stored_.meta.body_size = 0;
    stored_.body_id = random_id();
  }

  ~RedisWriter() override {
    alive_->store(false, std::memory_order_relaxed);
    // Not committed: nothing refers to these chunks. Fire and forget; if
    // Redis is unreachable they expire by themselves. Posted, as a writer
    // may be dropped on another thread than its loop's; the weak pointer
    // leaves the connection's lifetime to its owners.
    if (committed_ || stored_.chunks == 0) return;
    std::vector<Command> cleanup;
    if (!announcement_.empty()) cleanup.push_back(withdraw());
    Command del{"DEL"};
    for (std::uint64_t n = 0; n < stored_.chunks; ++n) del.push_back(store_->chunk_key(stored_.body_id, n));
    cleanup.push_back(std::move(del));
    asio::post(conn_->executor(), [weak = std::weak_ptr<Connection>(conn_), cleanup = std::move(cleanup)]() mutable {
      if (auto conn = weak.lock()) conn->send(std::move(cleanup));
    });
  }

  Task<void> write(std::span<const char> data) override {
    if (error_) co_return error_;
    if (committed_) co_return unavailable();
    size_ += data.size();
    const auto chunk = store_->chunk_size();
    while (!data.empty()) {
      auto take = std::min<std::size_t>(data.size(), chunk - buffer_.size());
      // Grow geometrically but never past one chunk.
      if (buffer_.size() + take > buffer_.capacity())
        buffer_.reserve(
            std::min<std::size_t>(chunk, std::max(buffer_.size() + take, 2 * buffer_.capacity())));
      buffer_.append(data.data(), take);
      data = data.subspan(take);
      if (buffer_.size() < chunk) continue;
      if (auto flushed = co_await flush(); !flushed) co_return flushed;
    }
    // A slow origin's bytes should not wait for a full chunk to reach
    // readers on other instances.
    if (!buffer_.empty() && std::chrono::steady_clock::now() - last_flush_ >= trickle_flush) {
      if (auto flushed = co_await flush(); !flushed) co_return flushed;
    }
    co_return Result<void>{};
  }

  Task<void> commit() override {
    if (error_) co_return error_;
    if (committed_) co_return Result<void>{};
    // The last, partial chunk joins the publishing transaction: a small
    // object costs one round trip.
    Command last;
    if (!buffer_.empty()) last = chunk_set();
    stored_.meta.body_size = size_;
    Command withdrawal;
    if (!announcement_.empty()) withdrawal = withdraw();
    auto published = co_await store_->publish(*conn_, key_, stored_, std::move(last), false, std::move(withdrawal));
    if (!published) co_return error_ = published.error();
    committed_ = true;
    alive_->store(false, std::memory_order_relaxed);
    co_return Result<void>{};
  }

 private:
  // Stores the buffered bytes as the next chunk; the first one also
  // announces the fill to other instances.
  Task<void> flush() {
    std::vector<Command> commands;
    if (announcement_.empty()) {
      announcement_ = encode(stored_);
      commands.push_back({"SET", store_->progress_key(key_), announcement_, "PX", ms(progress_ttl)});
      asio::co_spawn(conn_->executor(),
                     keep_announced(conn_, store_->progress_key(key_), alive_), asio::detached);
    }
    commands.push_back(chunk_set());
    last_flush_ = std::chrono::steady_clock::now();
    auto replies = co_await conn_->wait(conn_->send(std::move(commands)));
    bool failed = !replies;
    if (replies)
      for (const auto& reply : *replies) failed |= reply.is_error();
    if (failed) co_return error_ = note("put " + key_, "chunk write failed");
    co_return Result<void>{};
  }

  Command withdraw() const {
    return {"EVAL", withdraw_script, "1", store_->progress_key(key_), announcement_};
  }

  // The SET for the buffered chunk; counted at once, so that the
  // destructor's DEL covers it whatever its reply.
  Command chunk_set() {
    Command set{"SET", store_->chunk_key(stored_.body_id, stored_.chunks++), std::move(buffer_), "PX",
                ms(ttl_ + chunk_grace)};
    buffer_ = std::string();
    return set;
  }

  std::shared_ptr<RedisStore> store_;
  std::shared_ptr<Connection> conn_;
  std::string key_;
  std::chrono::milliseconds ttl_;
  Stored stored_;
  std::string buffer_;
  std::string announcement_;  // the f: record's value, once announced
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
  std::chrono::steady_clock::time_point last_flush_;
  std::uint64_t size_ = 0;
  error_code error_;
  bool committed_ = false;
};

}  // namespace

std::unique_ptr<BodyWriter> make_writer(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn,
                                        std::string key, EntryMeta meta) {
  return std::make_unique<RedisWriter>(std::move(store), std::move(conn), std::move(key), std::move(meta));
}

}  // namespace relay::storage::redis
