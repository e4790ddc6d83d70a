// hiredis async glue for Asio: the context's ev hooks arm waits on a
// stream_descriptor over hiredis's own fd, readiness calls
// redisAsyncHandleRead/Write, and each reply is copied into a Batch that a
// coroutine waits on with a deadline. Also the url parser, connecting with
// AUTH/SELECT, back-off, and closing everything with the io_context.
#include "redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/query.hpp>
#include <mutex>
#include <stdexcept>

#include "relay/util/log.hpp"

namespace relay::storage::redis {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds initial_backoff{100};
constexpr milliseconds max_backoff{5000};

static_assert(int(Reply::Type::string) == REDIS_REPLY_STRING &&
              int(Reply::Type::array) == REDIS_REPLY_ARRAY &&
              int(Reply::Type::integer) == REDIS_REPLY_INTEGER && int(Reply::Type::nil) == REDIS_REPLY_NIL &&
              int(Reply::Type::status) == REDIS_REPLY_STATUS && int(Reply::Type::error) == REDIS_REPLY_ERROR);

Reply copy_reply(const redisReply& r) {
  Reply out;
  out.type = r.type >= REDIS_REPLY_STRING && r.type <= REDIS_REPLY_ERROR ? static_cast<Reply::Type>(r.type)
                                                                         : Reply::Type::nil;
  if (out.type == Reply::Type::string || out.type == Reply::Type::status || out.type == Reply::Type::error)
    out.str.assign(r.str, r.len);
  out.integer = r.integer;
  for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy_reply(*r.element[i]));
  return out;
}

// One per hiredis callback registration; hiredis calls each exactly once
// (with NULL when the context goes away), which frees it.
struct Slot {
  std::shared_ptr<Batch> batch;
  std::size_t index;
};

// Marks the last handshake command: its success means the server is usable.
char last_handshake;

int queue(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata, const Command& command) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& arg : command) {
    argv.push_back(arg.data());
    lens.push_back(arg.size());
  }
  return redisAsyncCommandArgv(ac, fn, privdata, static_cast<int>(argv.size()), argv.data(), lens.data());
}

// hiredis writes with write(2), which raises SIGPIPE on a connection the
// server has closed, and relay does not ignore SIGPIPE. Block it on this
// thread for the call and consume one raised meanwhile; hiredis still sees
// EPIPE and reports the disconnect.
void handle_write(redisAsyncContext* ac) {
  sigset_t pipe, pending, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  sigpending(&pending);
  const bool already_pending = sigismember(&pending, SIGPIPE);
  redisAsyncHandleWrite(ac);
  sigpending(&pending);
  if (!already_pending && sigismember(&pending, SIGPIPE)) {
    const timespec zero{};
    sigtimedwait(&pipe, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// Closes a loop's connections when its io_context is destroyed: Asio objects
// must not outlive their io_context, and the store may well do so.
class LoopService final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;
  explicit LoopService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  void add(const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(mutex_);
    std::erase_if(connections_, [](const auto& w) { return w.expired(); });
    connections_.push_back(c);
  }

 private:
  void shutdown() override {
    std::vector<std::weak_ptr<Connection>> all;
    {
      std::lock_guard lock(mutex_);
      all.swap(connections_);
    }
    for (auto& w : all)
      if (auto c = w.lock()) c->close();
  }

  std::mutex mutex_;
  std::vector<std::weak_ptr<Connection>> connections_;
};

asio::execution_context::id LoopService::id;

}  // namespace

// The ev hooks' target. hiredis holds one reference (self) from attach to
// its cleanup hook; pending waits hold others, so a handler that runs after
// the context is gone finds gone = true instead of freed memory.
struct Connection::Socket {
  Socket(const asio::any_io_executor& ex, redisAsyncContext* ac) : descriptor(ex), ac(ac) {}

  asio::posix::stream_descriptor descriptor;
  redisAsyncContext* ac;
  bool want_read = false, want_write = false;  // what hiredis asked for
  bool reading = false, writing = false;       // waits armed
  bool gone = false;                           // cleanup ran: fd and ac are hiredis's again
  std::shared_ptr<Socket> self;

  static Socket* of(void* p) { return static_cast<Socket*>(p); }
  static void add_read(void* p) { of(p)->want_read = true, arm(of(p)->self, false); }
  static void del_read(void* p) { of(p)->want_read = false; }
  static void add_write(void* p) { of(p)->want_write = true, arm(of(p)->self, true); }
  static void del_write(void* p) { of(p)->want_write = false; }

  // hiredis is about to close the fd: give it back untouched.
  static void cleanup(void* p) {
    auto keep = std::move(of(p)->self);
    keep->gone = true;
    boost::system::error_code ignored;
    keep->descriptor.cancel(ignored);
    keep->descriptor.release();
  }

  // A wait left armed after del* is harmless: its handler checks want_*.
  static void arm(const std::shared_ptr<Socket>& s, bool write) {
    if (!s || s->gone || (write ? s->writing : s->reading) || !(write ? s->want_write : s->want_read)) return;
    (write ? s->writing : s->reading) = true;
    using wait = asio::posix::stream_descriptor::wait_type;
    s->descriptor.async_wait(write ? wait::wait_write : wait::wait_read,
                             [s, write](const boost::system::error_code& ec) {
                               (write ? s->writing : s->reading) = false;
                               if (ec || s->gone) return;
                               // Either may free the context: gone then says so.
                               if (write && s->want_write) handle_write(s->ac);
                               if (!write && s->want_read) redisAsyncHandleRead(s->ac);
                               arm(s, write);
                             });
  }
};

std::shared_ptr<Connection> Connection::create(const asio::any_io_executor& ex, Options options) {
  auto& ctx = asio::query(ex, asio::execution::context);
  std::shared_ptr<Connection> conn(new Connection(ex, std::move(options)));
  asio::use_service<LoopService>(ctx).add(conn);
  return conn;
}

Connection::Connection(const asio::any_io_executor& ex, Options options)
    : ex_(ex),
      options_(std::move(options)),
      backoff_(initial_backoff),
      connect_timer_(std::make_unique<asio::steady_timer>(ex)) {
  const auto& ep = options_.endpoint;
  where_ = ep.host + ":" + std::to_string(ep.port) + "/" + std::to_string(ep.db);
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  if (auto* ac = ac_) {
    ac_ = nullptr;
    ++generation_;
    ac->data = nullptr;
    redisAsyncFree(ac);  // pending batches fail now
  }
  connect_timer_.reset();
}

bool Connection::available() {
  if (closed_) return false;
  if (!ac_) return clock::now() >= retry_at_;
  // Queue behind the very first connect; after a failure, fail fast until
  // the new connection has proven itself.
  return up_ || !failing_;
}

std::shared_ptr<Batch> Connection::send(std::vector<Command> commands) {
  if (closed_) return nullptr;
  if (!ac_) {
    if (clock::now() < retry_at_) return nullptr;
    start_connect();
    if (!ac_) return nullptr;
  }
  if (!up_ && failing_) return nullptr;

  auto batch = std::make_shared<Batch>(ex_);
  batch->replies.resize(commands.size());
  batch->generation = generation_;
  batch->deadline = clock::now() + options_.command_timeout;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    auto* slot = new Slot{batch, i};
    if (queue(ac_, &Connection::on_reply, slot, commands[i]) != REDIS_OK) {
      delete slot;
      batch->failed = true;
      // Half a batch (a MULTI without its EXEC) must not stay on a shared connection.
      drop("cannot queue a command");
      break;
    }
    ++batch->remaining;
  }
  return batch;
}

asio::awaitable<Result<std::vector<Reply>>> Connection::wait(std::shared_ptr<Batch> batch) {
  if (!batch) co_return make_error_code(Errc::storage_unavailable);
  // Replies can only arrive while this coroutine is suspended (same thread),
  // so checking before each wait loses no notify().
  while (batch->remaining > 0 && clock::now() < batch->deadline)
    co_await batch->event.wait_until(batch->deadline);
  // A loop busy with other work may run this timer before the read handler:
  // take in what the server already sent before judging it.
  while (batch->remaining > 0 && batch->generation == generation_ && ac_ && unread() > 0)
    redisAsyncHandleRead(ac_);
  if (batch->remaining > 0) {
    // Replies still flowing means the batch is queued behind others: only
    // this call gives up (its reply will find the batch, unwatched). A
    // silent server is dropped, as hiredis 0.14 cannot cancel a command.
    // Before the handshake the connect timer is in charge.
    if (batch->generation == generation_ && ac_ && up_ &&
        clock::now() - last_reply_ >= options_.command_timeout)
      drop("no reply within " + std::to_string(options_.command_timeout.count()) + " ms");
    co_return make_error_code(Errc::storage_unavailable);
  }
  if (batch->failed) co_return make_error_code(Errc::storage_unavailable);
  co_return std::move(batch->replies);
}

int Connection::unread() const {
  int bytes = 0;
  return ac_ && ::ioctl(ac_->c.fd, FIONREAD, &bytes) == 0 ? bytes : 0;
}

asio::awaitable<Result<Reply>> Connection::command(Command command) {
  std::vector<Command> one;
  one.push_back(std::move(command));
  auto replies = co_await wait(send(std::move(one)));
  if (!replies) co_return replies.error();
  co_return std::move(replies->front());
}

void Connection::start_connect() {
  // Non-blocking connect (a host name is still resolved synchronously).
  redisAsyncContext* ac = redisAsyncConnect(options_.endpoint.host.c_str(), options_.endpoint.port);
  if (!ac) {
    lost("out of memory");
    return;
  }
  if (ac->err) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);
    lost(why);
    return;
  }
  ac_ = ac;
  ++generation_;
  up_ = false;
  ac->data = this;
  attach(ac);
  if (!ac_) return;
  redisAsyncSetConnectCallback(ac, &Connection::on_connect);
  redisAsyncSetDisconnectCallback(ac, &Connection::on_disconnect);
  handshake();
  connect_timer_->expires_after(options_.connect_timeout);
  connect_timer_->async_wait(
      [weak = weak_from_this(), gen = generation_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->generation_ != gen || !self->ac_ || self->up_) return;
        self->drop("not ready within " + std::to_string(self->options_.connect_timeout.count()) + " ms");
      });
}

void Connection::attach(redisAsyncContext* ac) {
  auto socket = std::make_shared<Socket>(ex_, ac);
  boost::system::error_code ec;
  socket->descriptor.assign(ac->c.fd, ec);
  if (ec) {
    drop("cannot watch the socket: " + ec.message());
    return;
  }
  socket->self = socket;
  ac->ev.data = socket.get();
  ac->ev.addRead = &Socket::add_read;
  ac->ev.delRead = &Socket::del_read;
  ac->ev.addWrite = &Socket::add_write;
  ac->ev.delWrite = &Socket::del_write;
  ac->ev.cleanup = &Socket::cleanup;
}

void Connection::handshake() {
  // Sent before the TCP connect completes: hiredis buffers them, so they
  // precede every caller's command. PING when there is nothing else to ask,
  // so that readiness is always proven by a reply.
  std::vector<Command> commands;
  const auto& ep = options_.endpoint;
  if (!ep.password.empty()) commands.push_back({"AUTH", ep.password});
  if (ep.db != 0) commands.push_back({"SELECT", std::to_string(ep.db)});
  if (commands.empty()) commands.push_back({"PING"});
  for (std::size_t i = 0; i < commands.size(); ++i)
    queue(ac_, &Connection::on_handshake_reply, i + 1 == commands.size() ? &last_handshake : nullptr,
          commands[i]);
}

void Connection::drop(std::string_view why) {
  auto* ac = ac_;
  if (!ac) return;
  lost(why);
  // Inside a hiredis callback the free is deferred by hiredis until it returns.
  ac->data = nullptr;
  redisAsyncFree(ac);
}

void Connection::lost(std::string_view why) {
  const bool was_up = up_;
  ac_ = nullptr;
  ++generation_;
  up_ = false;
  if (connect_timer_) connect_timer_->cancel();
  if (closed_) return;
  retry_at_ = clock::now() + backoff_;
  // One line per outage and one per recovery, not one per attempt.
  if (was_up) {
    log::warn("redis ", where_, ": connection lost (", why, "); calls fail fast until it is back");
  } else if (!failing_) {
    log::warn("redis ", where_, ": cannot connect (", why, "); calls fail fast until it is reachable");
  } else {
    log::debug("redis ", where_, ": reconnect failed (", why, "); next attempt in ", backoff_.count(), " ms");
  }
  failing_ = true;
  backoff_ = std::min(backoff_ * 2, max_backoff);
}

void Connection::answered() {
  up_ = true;
  last_reply_ = clock::now();
  backoff_ = initial_backoff;
  if (connect_timer_) connect_timer_->cancel();
  if (failing_) {
    log::info("redis ", where_, ": connected again");
  } else {
    log::debug("redis ", where_, ": connected");
  }
  failing_ = false;
}

void Connection::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  // Success needs nothing: readiness is the handshake's reply.
  if (!self || ac != self->ac_ || status == REDIS_OK) return;
  // hiredis frees the context as soon as this returns.
  const_cast<redisAsyncContext*>(ac)->data = nullptr;
  self->lost(ac->errstr ? ac->errstr : "connect failed");
}

void Connection::on_disconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!self || ac != self->ac_) return;
  const_cast<redisAsyncContext*>(ac)->data = nullptr;
  self->lost(ac->err && ac->errstr ? ac->errstr : "closed by the server");
}

void Connection::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  std::unique_ptr<Slot> slot(static_cast<Slot*>(privdata));
  auto& batch = *slot->batch;
  if (auto* self = static_cast<Connection*>(ac->data); self && reply) self->last_reply_ = clock::now();
  if (reply) {
    // hiredis frees the reply when this returns.
    batch.replies[slot->index] = copy_reply(*static_cast<redisReply*>(reply));
  } else {
    batch.failed = true;
  }
  if (--batch.remaining == 0) batch.event.notify();
}

void Connection::on_handshake_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!self || ac != self->ac_ || !reply) return;
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    self->drop("handshake (AUTH/SELECT/PING) refused: " + std::string(r->str, r->len));
    return;
  }
  if (privdata == &last_handshake) self->answered();
}

std::shared_ptr<Connection> ConnectionPool::for_executor(const boost::asio::any_io_executor& ex) {
  const void* loop = &boost::asio::query(ex, boost::asio::execution::context);
  std::lock_guard lock(mutex_);
  auto& conn = connections_[loop];
  // A closed one belonged to a destroyed io_context whose address was reused.
  if (!conn || conn->closed()) conn = Connection::create(ex, options_);
  return conn;
}

}  // namespace relay::storage::redis
