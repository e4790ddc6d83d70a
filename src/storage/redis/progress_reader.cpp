// Streams a body while its writer, maybe in another relay instance, still
// writes it (Storage::get_in_progress). It polls chunk n and, while it is
// not there, asks in the same round trip whether the same body id is still
// announced (wait, backing off up to 50 ms), has been committed (the chunk
// count is now final) or neither (the fill was abandoned: fail).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "store.hpp"

namespace relay::storage::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class ProgressReader final : public BodyReader {
 public:
  ProgressReader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, std::string key,
                 Stored announced)
      : store_(std::move(store)), conn_(std::move(conn)), key_(std::move(key)), body_id_(std::move(announced.body_id)) {}

  Task<std::span<const char>> read() override {
    if (failed_) co_return unavailable();
    auto backoff = 2ms;
    for (;;) {
      if (final_chunks_ && next_ >= *final_chunks_) {
        if (delivered_ != final_size_) co_return fail("body shorter than its metadata says");
        co_return std::span<const char>{};
      }
      // While the fill runs, one round trip asks for the chunk and, should
      // it not be there yet, whether the fill still runs or has ended.
      std::vector<Command> ask;
      ask.push_back({"GET", store_->chunk_key(body_id_, next_)});
      if (!final_chunks_) {
        ask.push_back({"GET", store_->progress_key(key_)});
        ask.push_back({"GET", store_->meta_key(key_)});
      }
      auto replies = co_await conn_->wait(conn_->send(std::move(ask)));
      if (!replies || replies->empty()) co_return fail("poll failed");
      auto& chunk = replies->front();
      if (chunk.type == Reply::Type::string && !chunk.str.empty()) {
        current_ = std::move(chunk.str);
        delivered_ += current_.size();
        ++next_;
        co_return std::span<const char>(current_.data(), current_.size());
      }
      if (final_chunks_) co_return fail("chunk missing (expired or evicted)");
      if (ours((*replies)[1])) {
        asio::steady_timer timer(co_await asio::this_coro::executor, backoff);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 50ms);
        continue;
      }
      // Not announced any more: committed (the count is final; look again,
      // the chunk may have come with the commit) or given up.
      auto& meta = (*replies)[2];
      auto committed = meta.type == Reply::Type::string ? decode(meta.str) : std::nullopt;
      if (!committed || committed->body_id != body_id_) co_return fail("the fill was abandoned");
      final_chunks_ = committed->chunks;
      final_size_ = committed->meta.body_size;
    }
  }

 private:
  bool ours(const Reply& reply) const {
    if (reply.type != Reply::Type::string) return false;
    auto announced = decode(reply.str);
    return announced && announced->body_id == body_id_;
  }
  error_code fail(std::string_view why) {
    failed_ = true;
    current_ = std::string();
    return note("fill " + body_id_, why);
  }

  std::shared_ptr<RedisStore> store_;
  std::shared_ptr<Connection> conn_;
  std::string key_;
  std::string body_id_;
  std::string current_;
  std::optional<std::uint64_t> final_chunks_;
  std::uint64_t final_size_ = 0;
  std::uint64_t next_ = 0;
  std::uint64_t delivered_ = 0;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<BodyReader> make_progress_reader(std::shared_ptr<RedisStore> store,
                                                 std::shared_ptr<Connection> conn, std::string key,
                                                 Stored announced) {
  return std::make_unique<ProgressReader>(std::move(store), std::move(conn), std::move(key), std::move(announced));
}

}  // namespace relay::storage::redis
