// One hiredis async connection driven by one Asio event loop: reply copies,
// pipelined commands with a deadline, connecting with AUTH/SELECT, and
// reconnecting with back-off. Private to the Redis backend (redis/):
// calls in connection.cpp, connecting in connect.cpp, the hiredis/Asio glue
// in hiredis_glue.cpp.
//
// A connection belongs to one io_context run by one thread: hiredis is not
// thread-safe, and every callback runs on that loop.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

#include "relay/util/async_event.hpp"
#include "relay/util/result.hpp"

struct redisAsyncContext;

namespace relay::storage::redis {

// Where a connection goes: the parts of config::RedisUrl, parsed at load.
struct Endpoint {
  std::string host;
  int port = 6379;
  std::string password;  // empty: no AUTH
  int db = 0;            // 0: no SELECT
};

// A deep copy of a redisReply: hiredis frees its own once the callback returns.
struct Reply {
  enum class Type { string = 1, array, integer, nil, status, error };  // hiredis's REDIS_REPLY_* numbers
  Type type = Type::nil;
  std::string str;  // string, status or error text
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const noexcept { return type == Type::error; }
};

using Command = std::vector<std::string>;  // argv, binary-safe

class MasterLocator;  // endpoint.hpp

struct Options {
  Endpoint endpoint;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{500};
  // With Redis Sentinel: where the master is now; `endpoint` then gives
  // the password and db.
  std::shared_ptr<MasterLocator> locator;
};

// Commands sent together and answered together. Shared by the waiting
// coroutine and hiredis's callbacks, so a caller that gave up leaves nothing
// dangling.
struct Batch {
  explicit Batch(const boost::asio::any_io_executor& ex) : event(ex) {}
  std::vector<Reply> replies;
  std::size_t remaining = 0;
  bool failed = false;  // the connection went away before every reply came
  std::uint64_t generation = 0;
  AsyncEvent::clock::time_point deadline{};
  AsyncEvent event;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // ex must belong to an io_context; the connection is closed when that
  // io_context is destroyed, even if the connection outlives it.
  static std::shared_ptr<Connection> create(const boost::asio::any_io_executor& ex, Options options);
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Writes the commands now, in order and not interleaved with anyone else's
  // (a MULTI ... EXEC batch stays whole). Null when Redis is unreachable:
  // in back-off, or a reconnect attempt after a failure is still under way.
  std::shared_ptr<Batch> send(std::vector<Command> commands);
  // The batch's replies, or storage_unavailable once command_timeout has
  // passed since send() or when the connection is lost. A timed-out call
  // also drops the connection if the server has been silent for
  // command_timeout (no reply, none waiting unread): hiredis cannot cancel
  // a command, and a hung server must not hold later calls. A busy
  // pipeline or a busy loop keeps its connection.
  // Error replies are replies: the caller decides what they mean.
  boost::asio::awaitable<Result<std::vector<Reply>>> wait(std::shared_ptr<Batch> batch);
  boost::asio::awaitable<Result<Reply>> command(Command command);

  // Makes this connection a subscriber of `channel`, for nothing else from
  // then on: on_message runs on the loop with each message's payload.
  // False when Redis cannot be reached now (as send()). The subscription
  // lasts as long as the hiredis context: once subscribed() turns false the
  // caller subscribes again, which reconnects with the usual back-off.
  bool subscribe(const std::string& channel, std::function<void(std::string_view)> on_message);
  bool subscribed() const noexcept { return ac_ && subscribed_generation_ == generation_; }

  // False while a call would fail fast.
  bool available();
  // The loop's executor: how another thread hands the connection work.
  const boost::asio::any_io_executor& executor() const noexcept { return ex_; }
  // For the loop's shutdown: frees hiredis and every Asio object; idempotent.
  void close();
  bool closed() const noexcept { return closed_; }

 private:
  struct Socket;
  using clock = AsyncEvent::clock;

  Connection(const boost::asio::any_io_executor& ex, Options options);

  void start_connect();
  void attach(redisAsyncContext* ac);
  void handshake();
  void drop(std::string_view why);
  void lost(std::string_view why);
  void answered();
  int unread() const;  // bytes the server sent that hiredis has not read yet

  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_handshake_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_message(redisAsyncContext* ac, void* reply, void* privdata);
  bool ready_to_send();

  boost::asio::any_io_executor ex_;
  Options options_;
  std::string where_;  // host:port/db for log lines
  redisAsyncContext* ac_ = nullptr;
  std::uint64_t generation_ = 0;  // bumped per hiredis context
  std::uint64_t located_ = 0;     // the locator's generation this link was made with
  std::uint64_t subscribed_generation_ = 0;  // the context subscribe() last succeeded on
  bool up_ = false;               // the server has answered since connecting
  bool failing_ = false;          // the last attempt or connection failed
  bool closed_ = false;
  clock::time_point retry_at_{};
  clock::time_point last_reply_{};  // progress, for telling hung from busy
  std::chrono::milliseconds backoff_;
  std::unique_ptr<boost::asio::steady_timer> connect_timer_;
  // Reconnects at retry_at_ without waiting for a caller, so the first
  // calls after Redis returns find the connection up.
  std::unique_ptr<boost::asio::steady_timer> reconnect_timer_;
};

// One connection per event loop, created on first use from that loop: a
// hiredis context must stay on the thread that drives it.
class ConnectionPool {
 public:
  explicit ConnectionPool(Options options) : options_(std::move(options)) {}
  std::shared_ptr<Connection> for_executor(const boost::asio::any_io_executor& ex);

 private:
  Options options_;
  std::mutex mutex_;
  std::unordered_map<const void*, std::shared_ptr<Connection>> connections_;  // by io_context
};

}  // namespace relay::storage::redis
