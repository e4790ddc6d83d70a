// Writes a Redis body in chunks of exactly chunk_size bytes (the last one
// shorter), whatever pace the origin sends at: bytes are APPENDed to the
// open chunk, so a trickling origin neither fragments the stored body nor
// delays other instances. Buffered bytes go out when they complete a chunk,
// and otherwise at most trickle_flush after they arrived, by the writer's
// ticker if the origin pauses. The first bytes sent also announce the fill
// under f: for other instances (kept alive by the same ticker while the
// writer lives). Each of these steps, once announced, is PUBLISHed
// (fill_notices.hpp) to wake the instances waiting for it. commit() sends
// the rest, the metadata and the announcement's withdrawal in one
// transaction (RedisStore::publish).
// Dropped before commit, it deletes its chunks and announcement
// best-effort; otherwise they expire.
#include <algorithm>
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
using steady = std::chrono::steady_clock;

// A fill's announcement outlives its writer's last sign of life by this much.
constexpr std::chrono::milliseconds progress_ttl = 3s;
constexpr std::chrono::milliseconds progress_heartbeat = 1s;
// Bytes reach other instances at most this long after the origin sent them.
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

// What the writer and its ticker share; touched on the connection's loop only.
struct Progress {
  std::shared_ptr<RedisStore> store;
  std::string key;
  std::chrono::milliseconds ttl;
  Stored stored;           // meta, body id; chunks = those touched so far
  std::string buffer;      // bytes not sent yet
  std::uint64_t open = 0;  // the chunk being appended to
  std::uint64_t in_open = 0;  // its bytes already sent
  std::string announcement;   // the f: record's value, once announced
  steady::time_point last_flush = steady::now();
  steady::time_point last_beat{};
  error_code error;
  bool done = false;  // committed or dropped: the ticker stops
  bool ticking = false;

  std::uint64_t touched() const { return open + (in_open > 0 ? 1 : 0); }

  // The commands that append the buffer to the chunks, one chunk boundary
  // at a time, each chunk's TTL armed as it is created.
  void append_buffer(std::vector<Command>& commands) {
    const auto chunk = store->chunk_size();
    std::string_view rest(buffer);
    while (!rest.empty()) {
      auto take = std::min<std::uint64_t>(rest.size(), chunk - in_open);
      auto name = store->chunk_key(stored.body_id, open);
      commands.push_back({"APPEND", name, std::string(rest.substr(0, take))});
      if (in_open == 0) commands.push_back({"PEXPIRE", std::move(name), ms(ttl + chunk_grace)});
      rest.remove_prefix(take);
      in_open += take;
      if (in_open == chunk) ++open, in_open = 0;
    }
    buffer.clear();
    stored.chunks = touched();
  }

  // Re-arms the announcement: the writer is alive.
  Command heartbeat() {
    last_beat = steady::now();
    return {"PEXPIRE", store->progress_key(key), ms(progress_ttl)};
  }

  Command withdraw() const { return {"EVAL", withdraw_script, "1", store->progress_key(key), announcement}; }

  // Sends what is buffered; the first flush announces the fill.
  asio::awaitable<Result<void>> flush(Connection& conn) {
    if (error) co_return error;
    std::vector<Command> commands;
    if (announcement.empty()) {
      // chunk_count 1 and body_size = the chunk size: readers learn where
      // each chunk ends (format.hpp).
      Stored announced{stored.meta, stored.body_id, 1};
      announced.meta.body_size = store->chunk_size();
      announcement = encode(announced);
      commands.push_back({"SET", store->progress_key(key), announcement, "PX", ms(progress_ttl)});
      last_beat = steady::now();
    } else if (steady::now() - last_beat >= progress_heartbeat) {
      commands.push_back(heartbeat());
    }
    append_buffer(commands);
    commands.push_back(store->notices().notice(key));  // wakes the instances waiting for these bytes
    last_flush = steady::now();
    auto replies = co_await conn.wait(conn.send(std::move(commands)));
    bool failed = !replies;
    if (replies)
      for (const auto& reply : *replies) failed |= reply.is_error();
    if (failed && !error) error = note("put " + key, "chunk write failed");
    if (error) co_return error;
    co_return Result<void>{};
  }
};

// Flushes what a paused origin left buffered, and keeps the announcement
// alive, until the writer commits or is dropped.
asio::awaitable<void> tick(std::shared_ptr<Progress> p, std::weak_ptr<Connection> weak) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(trickle_flush);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto conn = weak.lock();
    if (p->done || !conn || p->error) co_return;
    const auto now = steady::now();
    if (!p->buffer.empty() && now - p->last_flush >= trickle_flush) {
      co_await p->flush(*conn);
    } else if (!p->announcement.empty() && now - p->last_beat >= progress_heartbeat) {
      conn->send({p->heartbeat()});
    }
  }
}

class RedisWriter final : public BodyWriter {
 public:
  RedisWriter(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, std::string key, EntryMeta meta)
      : conn_(std::move(conn)), p_(std::make_shared<Progress>()) {
    p_->store = std::move(store);
    p_->key = std::move(key);
    p_->ttl = ttl_for(meta.keep_for);
    p_->stored.meta = std::move(meta);
    p_->stored.meta.body_size = 0;
    p_->stored.body_id = random_id();
  }

  ~RedisWriter() override {
    if (committed_) return;
    // Nothing refers to these chunks. Fire and forget; if Redis is
    // unreachable they expire by themselves. Posted, as a writer may be
    // dropped on another thread than its loop's: the state is read there.
    asio::post(conn_->executor(), [weak = std::weak_ptr<Connection>(conn_), p = p_] {
      p->done = true;
      auto conn = weak.lock();
      if (!conn || p->touched() == 0) return;
      std::vector<Command> cleanup;
      if (!p->announcement.empty()) cleanup.push_back(p->withdraw());
      Command del{"DEL"};
      for (std::uint64_t n = 0; n < p->touched(); ++n) del.push_back(p->store->chunk_key(p->stored.body_id, n));
      cleanup.push_back(std::move(del));
      if (!p->announcement.empty()) cleanup.push_back(p->store->notices().notice(p->key));
      conn->send(std::move(cleanup));
    });
  }

  Task<void> write(std::span<const char> data) override {
    auto& p = *p_;
    if (p.error) co_return p.error;
    if (committed_) co_return unavailable();
    if (!p.ticking) {
      p.ticking = true;
      asio::co_spawn(conn_->executor(), tick(p_, conn_), asio::detached);
    }
    size_ += data.size();
    p.buffer.append(data.data(), data.size());
    // A whole chunk goes at once; a slow origin's bytes do not wait for one.
    if (p.in_open + p.buffer.size() >= p.store->chunk_size() || steady::now() - p.last_flush >= trickle_flush) {
      if (auto flushed = co_await p.flush(*conn_); !flushed) co_return flushed;
    }
    co_return Result<void>{};
  }

  Task<void> commit() override {
    auto& p = *p_;
    if (p.error) co_return p.error;
    if (committed_) co_return Result<void>{};
    // The rest joins the publishing transaction: a small object costs one
    // round trip.
    std::vector<Command> rest;
    p.append_buffer(rest);
    p.stored.meta.body_size = size_;
    Command withdrawal;
    if (!p.announcement.empty()) withdrawal = p.withdraw();
    auto published = co_await p.store->publish(*conn_, p.key, p.stored, std::move(rest), false, std::move(withdrawal));
    p.done = true;
    if (!published) co_return p.error = published.error();
    committed_ = true;
    if (!p.announcement.empty()) conn_->send({p.store->notices().notice(p.key)});  // readers: the size is final
    co_return Result<void>{};
  }

 private:
  std::shared_ptr<Connection> conn_;
  std::shared_ptr<Progress> p_;
  std::uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace

std::unique_ptr<BodyWriter> make_writer(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn,
                                        std::string key, EntryMeta meta) {
  return std::make_unique<RedisWriter>(std::move(store), std::move(conn), std::move(key), std::move(meta));
}

}  // namespace relay::storage::redis
