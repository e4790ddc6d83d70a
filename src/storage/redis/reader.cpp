// Reads a committed Redis body chunk by chunk, the next chunk's GET already
// on its way while the caller sends the current one (two chunks in memory
// at most). A chunk missing mid-read, or a body longer or shorter than its
// metadata says, fails the read with storage_unavailable.
#include "store.hpp"

namespace relay::storage::redis {
namespace {

class RedisReader final : public BodyReader {
 public:
  RedisReader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, Stored stored)
      : store_(std::move(store)), conn_(std::move(conn)), stored_(std::move(stored)) {}

  Task<std::span<const char>> read() override {
    if (failed_) co_return unavailable();
    if (next_ >= stored_.chunks) {
      if (delivered_ != stored_.meta.body_size) co_return fail("body shorter than its metadata says");
      co_return std::span<const char>{};
    }
    auto batch = std::move(prefetch_);
    if (!batch) batch = fetch(next_);
    auto replies = co_await conn_->wait(std::move(batch));
    if (!replies) co_return fail("chunk read failed");
    auto& reply = replies->front();
    if (reply.type != Reply::Type::string || reply.str.empty())
      co_return fail("chunk missing (expired or evicted)");
    current_ = std::move(reply.str);
    delivered_ += current_.size();
    if (delivered_ > stored_.meta.body_size) co_return fail("body longer than its metadata says");
    // Pipelining: the next chunk travels while the caller sends this one.
    // Memory stays bounded by two chunks per reader.
    if (++next_ < stored_.chunks) prefetch_ = fetch(next_);
    co_return std::span<const char>(current_.data(), current_.size());
  }

 private:
  std::shared_ptr<Batch> fetch(std::uint64_t n) {
    return conn_->send({{"GET", store_->chunk_key(stored_.body_id, n)}});
  }
  error_code fail(std::string_view why) {
    failed_ = true;
    prefetch_.reset();
    current_ = std::string();
    return note("body " + stored_.body_id, why);
  }

  std::shared_ptr<RedisStore> store_;
  std::shared_ptr<Connection> conn_;
  Stored stored_;
  std::string current_;
  std::shared_ptr<Batch> prefetch_;
  std::uint64_t next_ = 0;
  std::uint64_t delivered_ = 0;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<BodyReader> make_reader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn,
                                        Stored stored) {
  return std::make_unique<RedisReader>(std::move(store), std::move(conn), std::move(stored));
}

}  // namespace relay::storage::redis
