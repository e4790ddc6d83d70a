// Reads a committed Redis body chunk by chunk, the next chunk's GET already
// on its way while the caller sends the current one (two chunks in memory
// at most). The first read also asks whether every chunk is still there
// (one EXISTS, in the same round trip): a Redis that evicts keys without
// regard to their TTL (maxmemory-policy allkeys-*) may have dropped some,
// and such an entry must fail before the response head is sent, as a miss,
// not halfway through its body. The entry is then deleted. A chunk missing
// later (evicted during the read) drops the entry too and fails the read
// with storage_unavailable (the handler continues from the origin where it
// can), as does a body longer or shorter than its metadata says.
#include "store.hpp"

namespace relay::storage::redis {
namespace {

class RedisReader final : public BodyReader {
 public:
  RedisReader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, Stored stored,
              std::string meta_key)
      : store_(std::move(store)), conn_(std::move(conn)), stored_(std::move(stored)), meta_key_(std::move(meta_key)) {}

  Task<std::span<const char>> read() override {
    if (failed_) co_return unavailable();
    if (next_ >= stored_.chunks) {
      if (delivered_ != stored_.meta.body_size) co_return fail("body shorter than its metadata says");
      co_return std::span<const char>{};
    }
    const bool first = next_ == 0 && !prefetch_;
    auto batch = std::move(prefetch_);
    if (!batch) batch = first ? fetch_first() : fetch(next_);
    auto replies = co_await conn_->wait(std::move(batch));
    if (!replies || replies->empty()) co_return fail("chunk read failed");
    if (first) {
      const auto& exists = replies->front();
      if (exists.type != Reply::Type::integer || replies->size() < 2) co_return fail("chunk check failed");
      if (static_cast<std::uint64_t>(exists.integer) != stored_.chunks) {
        conn_->send({{"DEL", meta_key_}});
        co_return fail(std::to_string(stored_.chunks - static_cast<std::uint64_t>(exists.integer)) + " of " +
                       std::to_string(stored_.chunks) + " chunks evicted: entry dropped");
      }
    }
    auto& reply = replies->back();
    if (reply.type != Reply::Type::string || reply.str.empty()) {
      conn_->send({{"DEL", meta_key_}});  // the next request fetches it anew instead of failing here again
      co_return fail("chunk missing (expired or evicted): entry dropped");
    }
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
  // EXISTS of every chunk, then the first one's GET.
  std::shared_ptr<Batch> fetch_first() {
    Command exists{"EXISTS"};
    exists.reserve(stored_.chunks + 1);
    for (std::uint64_t n = 0; n < stored_.chunks; ++n) exists.push_back(store_->chunk_key(stored_.body_id, n));
    return conn_->send({std::move(exists), {"GET", store_->chunk_key(stored_.body_id, 0)}});
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
  std::string meta_key_;  // the entry's metadata, deleted when its chunks are found evicted
  std::string current_;
  std::shared_ptr<Batch> prefetch_;
  std::uint64_t next_ = 0;
  std::uint64_t delivered_ = 0;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<BodyReader> make_reader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn,
                                        Stored stored, std::string meta_key) {
  return std::make_unique<RedisReader>(std::move(store), std::move(conn), std::move(stored), std::move(meta_key));
}

}  // namespace relay::storage::redis
