// Two-level storage (see tiered_store.hpp). The lower store is the source of
// truth: its results are the tiered store's results. The upper store is a
// best-effort copy: when it refuses or fails, the lower store alone carries
// on, and whatever the upper store might still hold under the key is removed
// so it can never shadow a newer lower entry.
#include "relay/storage/tiered_store.hpp"

#include <algorithm>

namespace relay::storage {
namespace {

namespace asio = boost::asio;

// Streams a lower hit to the caller and copies it into an upper writer,
// committed once the caller has read body_size bytes: callers that know the
// size (deliver) stop there without asking for the end-of-body chunk.
class FillingReader final : public BodyReader {
 public:
  FillingReader(std::unique_ptr<BodyReader> lower, std::unique_ptr<BodyWriter> upper, std::uint64_t size)
      : lower_(std::move(lower)), upper_(std::move(upper)), expected_(size) {}

  asio::awaitable<Result<std::span<const char>>> read() override {
    auto chunk = co_await lower_->read();
    if (!upper_) co_return chunk;
    // A failed read or a body shorter or longer than recorded: a partial or
    // inconsistent copy must never be published.
    if (!chunk || chunk->empty() || chunk->size() > expected_ - copied_) {
      upper_.reset();
      co_return chunk;
    }
    copied_ += chunk->size();
    // The writer copies the bytes, so the chunk stays the caller's to read.
    if (!co_await upper_->write(*chunk)) {
      upper_.reset();  // e.g. too large for memory
      co_return chunk;
    }
    if (copied_ == expected_) {
      co_await upper_->commit();  // its outcome concerns nobody but the upper store
      upper_.reset();
    }
    co_return chunk;
  }

 private:
  std::unique_ptr<BodyReader> lower_;
  std::unique_ptr<BodyWriter> upper_;
  std::uint64_t expected_;
  std::uint64_t copied_ = 0;
};

// Writes every chunk to both stores; the upper one is dropped on its first
// failure and the lower one decides the outcome.
class TeeWriter final : public BodyWriter {
 public:
  TeeWriter(std::shared_ptr<Storage> upper_store, CacheKey key, std::unique_ptr<BodyWriter> lower,
            std::unique_ptr<BodyWriter> upper)
      : upper_store_(std::move(upper_store)), key_(std::move(key)), lower_(std::move(lower)), upper_(std::move(upper)) {}

  asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    if (auto r = co_await lower_->write(chunk); !r) co_return r;
    if (upper_ && !co_await upper_->write(chunk)) upper_.reset();
    co_return Result<void>{};
  }

  asio::awaitable<Result<void>> commit() override {
    auto result = co_await lower_->commit();
    if (!result) co_return result;  // the upper copy is dropped with the writer
    if (!upper_ || !co_await upper_->commit()) {
      // The new version lives only below: an older upper copy would hide it.
      co_await upper_store_->remove(key_);
    }
    upper_.reset();
    co_return result;
  }

 private:
  std::shared_ptr<Storage> upper_store_;
  CacheKey key_;
  std::unique_ptr<BodyWriter> lower_;
  std::unique_ptr<BodyWriter> upper_;
};

class TieredStore final : public Storage {
 public:
  TieredStore(std::shared_ptr<Storage> upper, std::shared_ptr<Storage> lower)
      : upper_(std::move(upper)),
        lower_(std::move(lower)),
        name_(std::string(upper_->backend_name()) + "+" + std::string(lower_->backend_name())) {}

  asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) override {
    // An upper failure is only a lost shortcut.
    if (auto upper_hit = co_await upper_->get(key); upper_hit && *upper_hit) co_return upper_hit;
    auto hit = co_await lower_->get(key);
    if (!hit || !*hit) co_return hit;
    auto& found = **hit;
    // Named copies, not temporaries, as coroutine arguments: GCC 12 mishandles
    // non-trivial temporaries inside co_await expressions.
    auto upper_meta = found.meta;
    auto writer = co_await upper_->put(key, std::move(upper_meta));
    if (!writer) co_return hit;
    if (found.meta.body_size == 0) {
      co_await (*writer)->commit();  // nothing to copy: the caller may never read
    } else {
      found.body = std::make_unique<FillingReader>(std::move(found.body), std::move(*writer), found.meta.body_size);
    }
    co_return hit;
  }

  asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key, EntryMeta meta) override {
    auto upper_meta = meta;
    auto upper = co_await upper_->put(key, std::move(upper_meta));
    auto lower = co_await lower_->put(key, std::move(meta));
    if (!lower) {
      co_await upper_->remove(key);  // nor may an old upper copy outlive this attempt
      co_return lower.error();
    }
    std::unique_ptr<BodyWriter> upper_writer;
    if (upper) upper_writer = std::move(*upper);
    co_return std::unique_ptr<BodyWriter>(
        std::make_unique<TeeWriter>(upper_, key, std::move(*lower), std::move(upper_writer)));
  }

  asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) override {
    auto upper_meta = meta;
    auto upper = co_await upper_->update_meta(key, std::move(upper_meta));
    if (!upper) co_await upper_->remove(key);
    co_return co_await lower_->update_meta(key, std::move(meta));
  }

  asio::awaitable<Result<bool>> remove(const CacheKey& key) override {
    auto upper = co_await upper_->remove(key);
    auto lower = co_await lower_->remove(key);
    if (!lower) co_return lower;
    // The key existed if either level held it.
    co_return *lower || (upper && *upper);
  }

  // Both levels; the lower one, the source of truth, decides success. The
  // count is the larger one: an entry usually sits in both. For a purge
  // another instance already did on a shared lower level (this_instance),
  // that level answers 0 and the upper count is the answer.
  asio::awaitable<Result<std::uint64_t>> purge(const PurgeRequest& request) override {
    auto upper = co_await upper_->purge(request);
    auto lower = co_await lower_->purge(request);
    if (!lower) co_return lower;
    co_return std::max(*lower, upper ? *upper : std::uint64_t{0});
  }

  // The shared level is the lower one: an upper (memory) tier is this
  // instance's alone and its fills are followed in-process.
  asio::awaitable<Result<std::optional<Hit>>> get_in_progress(const CacheKey& key) override {
    co_return co_await lower_->get_in_progress(key);
  }

  Stats stats() const override { return lower_->stats(); }
  std::string_view backend_name() const noexcept override { return name_; }

 private:
  std::shared_ptr<Storage> upper_;
  std::shared_ptr<Storage> lower_;
  std::string name_;
};

}  // namespace

std::shared_ptr<Storage> make_tiered_store(std::shared_ptr<Storage> upper, std::shared_ptr<Storage> lower) {
  return std::make_shared<TieredStore>(std::move(upper), std::move(lower));
}

}  // namespace relay::storage
