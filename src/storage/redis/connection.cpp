// A connection's calls: sending a pipelined batch, waiting for its replies
// with a deadline (and telling a hung server from a busy one), and taking
// each reply into its batch; closing; the per-loop pool. Connecting and
// back-off are in connect.cpp, the hiredis/Asio glue in hiredis_glue.cpp.
#include "connection.hpp"

#include <sys/ioctl.h>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <mutex>

#include "endpoint.hpp"
#include "hiredis_glue.hpp"

namespace relay::storage::redis {

namespace asio = boost::asio;

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
  reconnect_timer_.reset();
}

bool Connection::available() {
  if (closed_) return false;
  if (!ac_) return clock::now() >= retry_at_;
  // Queue behind the very first connect; after a failure, fail fast until
  // the new connection has proven itself.
  return up_ || !failing_;
}

bool Connection::ready_to_send() {
  if (closed_) return false;
  // A failover moved the master: this link goes to a replica now, or nowhere.
  if (options_.locator && options_.locator->generation() != located_) {
    if (ac_) drop("the master moved (sentinel)");
    retry_at_ = clock::now();  // to the new master at once, not after a back-off
  }
  if (!ac_) {
    if (clock::now() < retry_at_) return false;
    start_connect();
    if (!ac_) return false;
  }
  return up_ || !failing_;
}

std::shared_ptr<Batch> Connection::send(std::vector<Command> commands) {
  if (!ready_to_send()) return nullptr;

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

namespace {
// A subscription's handler; hiredis calls the SUBSCRIBE callback for every
// message, and once more with NULL when the context goes, which frees it.
struct Subscription {
  std::function<void(std::string_view)> on_message;
};
}  // namespace

bool Connection::subscribe(const std::string& channel, std::function<void(std::string_view)> on_message) {
  if (!ready_to_send()) return false;
  auto* sub = new Subscription{std::move(on_message)};
  if (queue(ac_, &Connection::on_message, sub, Command{"SUBSCRIBE", channel}) != REDIS_OK) {
    delete sub;
    drop("cannot queue SUBSCRIBE");
    return false;
  }
  subscribed_generation_ = generation_;
  return true;
}

void Connection::on_message(redisAsyncContext*, void* reply, void* privdata) {
  auto* sub = static_cast<Subscription*>(privdata);
  if (!reply) {
    delete sub;
    return;
  }
  // ["message", channel, payload]; the subscription's confirmation is
  // ["subscribe", channel, count].
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
      std::string_view(r->element[0]->str, r->element[0]->len) != "message" ||
      r->element[2]->type != REDIS_REPLY_STRING)
    return;
  sub->on_message(std::string_view(r->element[2]->str, r->element[2]->len));
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

std::shared_ptr<Connection> ConnectionPool::for_executor(const boost::asio::any_io_executor& ex) {
  const void* loop = &boost::asio::query(ex, boost::asio::execution::context);
  std::lock_guard lock(mutex_);
  auto& conn = connections_[loop];
  // A closed one belonged to a destroyed io_context whose address was reused.
  if (!conn || conn->closed()) conn = Connection::create(ex, options_);
  return conn;
}

}  // namespace relay::storage::redis
