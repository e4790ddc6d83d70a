// hiredis async glue for Asio: the context's ev hooks arm waits on a
// stream_descriptor over hiredis's own fd and readiness calls
// redisAsyncHandleRead/Write (Connection::Socket, attach); replies are
// copied out of hiredis's memory; and every connection of a loop is closed
// with its io_context (LoopService, create).
#include "hiredis_glue.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/query.hpp>
#include <mutex>
#include <vector>

namespace relay::storage::redis {

namespace asio = boost::asio;

namespace {

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

int queue(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata, const Command& command) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& arg : command) {
    argv.push_back(arg.data());
    lens.push_back(arg.size());
  }
  return redisAsyncCommandArgv(ac, fn, privdata, static_cast<int>(argv.size()), argv.data(), lens.data());
}

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

}  // namespace relay::storage::redis
