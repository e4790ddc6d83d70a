// The max_object_size limit on writers (see size_limited_store.hpp). It owns
// one count per writer: the raw bytes accepted so far. Everything else passes
// through untouched.
#include "relay/storage/size_limited_store.hpp"

namespace relay::storage {
namespace {

namespace asio = boost::asio;

error_code too_large() { return make_error_code(Errc::object_too_large); }

class SizeLimitedWriter final : public BodyWriter {
 public:
  SizeLimitedWriter(std::unique_ptr<BodyWriter> inner, std::uint64_t limit)
      : inner_(std::move(inner)), limit_(limit) {}

  asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    if (!inner_) co_return too_large();
    if (chunk.size() > limit_ - written_) {
      inner_.reset();  // aborts the entry and gives its buffers back now
      co_return too_large();
    }
    written_ += chunk.size();
    co_return co_await inner_->write(chunk);
  }

  asio::awaitable<Result<void>> commit() override {
    if (!inner_) co_return too_large();
    co_return co_await inner_->commit();
  }

  int body_fd() const noexcept override { return inner_ ? inner_->body_fd() : -1; }

 private:
  std::unique_ptr<BodyWriter> inner_;  // null once over the limit
  const std::uint64_t limit_;
  std::uint64_t written_ = 0;  // never above limit_
};

class SizeLimitedStore final : public Storage {
 public:
  SizeLimitedStore(std::shared_ptr<Storage> inner, std::uint64_t limit) : inner_(std::move(inner)), limit_(limit) {}

  asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) override {
    co_return co_await inner_->get(key);
  }

  asio::awaitable<Result<std::optional<Hit>>> get_in_progress(const CacheKey& key) override {
    co_return co_await inner_->get_in_progress(key);
  }

  asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key, EntryMeta meta) override {
    auto writer = co_await inner_->put(key, std::move(meta));
    if (!writer) co_return writer.error();
    co_return limit_body_size(std::move(*writer), limit_);
  }

  asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) override {
    co_return co_await inner_->update_meta(key, std::move(meta));
  }

  asio::awaitable<Result<std::uint64_t>> purge(const PurgeRequest& request) override {
    co_return co_await inner_->purge(request);
  }

  asio::awaitable<Result<bool>> remove(const CacheKey& key) override { co_return co_await inner_->remove(key); }

  Stats stats() const override { return inner_->stats(); }
  std::string_view backend_name() const noexcept override { return inner_->backend_name(); }

 private:
  std::shared_ptr<Storage> inner_;
  const std::uint64_t limit_;
};

}  // namespace

std::unique_ptr<BodyWriter> limit_body_size(std::unique_ptr<BodyWriter> inner, std::uint64_t limit) {
  if (limit == 0) return inner;
  return std::make_unique<SizeLimitedWriter>(std::move(inner), limit);
}

std::shared_ptr<Storage> make_size_limited_store(std::shared_ptr<Storage> inner, std::uint64_t max_object_size) {
  if (max_object_size == 0) return inner;
  return std::make_shared<SizeLimitedStore>(std::move(inner), max_object_size);
}

}  // namespace relay::storage
