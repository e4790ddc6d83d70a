// Streams a body while its writer, maybe in another relay instance, still
// writes it (Storage::get_in_progress). The writer appends to fixed-size
// chunks (writer.cpp), so this reads chunk n from where it left off
// (GETRANGE) and moves to chunk n+1 once n holds a whole chunk. When no new
// bytes are there, the same round trip asks whether the same body id is
// still announced (wait for the writer's next notice, fill_notices.hpp, or
// without notices back off up to 50 ms), has been committed (the size is
// now final) or neither (the fill was abandoned: fail).
// An announcement without a chunk size comes from an older writer that
// SET whole chunks of any size: each chunk is then read once, whole.
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
      : store_(std::move(store)),
        conn_(std::move(conn)),
        key_(std::move(key)),
        body_id_(std::move(announced.body_id)),
        chunk_size_(announced.chunks == 1 ? announced.meta.body_size : 0) {}

  Task<std::span<const char>> read() override {
    if (failed_) co_return unavailable();
    auto backoff = 2ms;
    // Registered before the first look, so a notice sent meanwhile counts.
    if (!watch_ && !final_size_) watch_ = store_->notices().watch(key_, co_await asio::this_coro::executor);
    for (;;) {
      if (final_size_ && delivered_ >= *final_size_) {
        if (delivered_ != *final_size_) co_return fail("body longer than its metadata says");
        co_return std::span<const char>{};
      }
      // While the fill runs, one round trip asks for new bytes and, should
      // there be none yet, whether the fill still runs or has ended.
      std::vector<Command> ask;
      const auto chunk = store_->chunk_key(body_id_, next_);
      if (chunk_size_ > 0) {
        ask.push_back({"GETRANGE", chunk, std::to_string(within_), "-1"});
      } else {
        ask.push_back({"GET", chunk});
      }
      if (!final_size_) {
        ask.push_back({"GET", store_->progress_key(key_)});
        ask.push_back({"GET", store_->meta_key(key_)});
      }
      auto replies = co_await conn_->wait(conn_->send(std::move(ask)));
      if (!replies || replies->empty()) co_return fail("poll failed");
      auto& bytes = replies->front();
      if (bytes.type == Reply::Type::string && !bytes.str.empty()) {
        current_ = std::move(bytes.str);
        delivered_ += current_.size();
        within_ += current_.size();
        if (chunk_size_ == 0 || within_ >= chunk_size_) ++next_, within_ = 0;
        co_return std::span<const char>(current_.data(), current_.size());
      }
      if (final_size_) co_return fail("chunk missing (expired or evicted)");
      if (ours((*replies)[1])) {
        if (watch_ && watch_->live()) {
          co_await watch_->wait_until(std::chrono::steady_clock::now() + FillNotices::fallback);
          continue;
        }
        asio::steady_timer timer(co_await asio::this_coro::executor, backoff);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 50ms);
        continue;
      }
      // Not announced any more: committed (the size is final; look again,
      // the last bytes may have come with the commit) or given up.
      auto& meta = (*replies)[2];
      auto committed = meta.type == Reply::Type::string ? decode(meta.str) : std::nullopt;
      if (!committed || committed->body_id != body_id_) co_return fail("the fill was abandoned");
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
  const std::uint64_t chunk_size_;  // 0: an older writer's whole chunks
  std::string current_;
  std::optional<std::uint64_t> final_size_;
  std::uint64_t next_ = 0;    // the chunk being read
  std::uint64_t within_ = 0;  // bytes of it already delivered
  std::uint64_t delivered_ = 0;
  bool failed_ = false;
  std::unique_ptr<FillNotices::Watch> watch_;
};

}  // namespace

std::unique_ptr<BodyReader> make_progress_reader(std::shared_ptr<RedisStore> store,
                                                 std::shared_ptr<Connection> conn, std::string key,
                                                 Stored announced) {
  return std::make_unique<ProgressReader>(std::move(store), std::move(conn), std::move(key), std::move(announced));
}

}  // namespace relay::storage::redis
