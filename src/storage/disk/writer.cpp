// Writes a new disk body: gathered into 64 KiB pieces, appended to a file in
// tmp/ on the I/O pool while its SHA-256 and block list are computed, each
// piece's bytes reserved against min_free_space first (DiskStore::
// reserve_space); commit() fsyncs it and hands it to Index::publish. A writer
// dropped or failed leaves nothing behind, its reservation included.
#include "blocks.hpp"
#include "record.hpp"
#include "store.hpp"

namespace relay::storage::disk {
namespace {

class DiskWriter final : public BodyWriter {
 public:
  DiskWriter(std::shared_ptr<DiskStore> store, std::string key, EntryMeta meta)
      : store_(std::move(store)), key_(std::move(key)), meta_(std::move(meta)) {}
  ~DiskWriter() override { discard(); }

  asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    if (failed_) co_return failed_;
    auto total = size_ + chunk.size();
    // A body that can never fit the cache is refused like one over
    // max_object_size (as is one whose block list would not fit a record).
    if (total > store_->max_size() || total > max_body_size)
      co_return fail(Errc::object_too_large);
    size_ = total;
    // Small chunks are gathered so a body costs one thread hop per 64 KiB.
    if (buffer_.size() + chunk.size() < block_size) {
      buffer_.append(chunk.data(), chunk.size());
      co_return Result<void>{};
    }
    auto ec = co_await on_pool(store_->pool(), [this, chunk] { return flush(chunk); });
    if (ec) co_return fail(ec);
    co_return Result<void>{};
  }

  asio::awaitable<Result<void>> commit() override {
    if (failed_) co_return failed_;
    auto ec = co_await on_pool(store_->pool(), [this]() -> error_code {
      if (auto e = flush({})) return e;
      if (auto e = sync_fd(tmp_.fd.get())) return io_failure("syncing a body", e);
      tmp_.fd.reset();
      meta_.body_size = size_;
      // From here publish() owns the temporary file, whatever happens.
      auto blocks = std::make_shared<const std::string>(blocks_.finish());
      auto published = store_->index().publish(key_, std::move(meta_), to_hex(hash_.finish()),
                                               std::move(blocks), std::exchange(tmp_.path, {}));
      store_->release_space(std::exchange(reserved_, 0), !published);
      return published;
    });
    if (ec) co_return fail(ec);
    failed_ = unavailable();  // spent: a second commit is a caller bug
    co_return Result<void>{};
  }

 private:
  // Blocking. Appends the buffer, then more, to the temporary file.
  error_code flush(std::span<const char> more) {
    // Reserved before a byte is written (or a file created), so writers in
    // flight together never take the disk below min_free_space.
    auto bytes = buffer_.size() + more.size();
    if (bytes != 0 && !store_->reserve_space(bytes)) return unavailable();
    reserved_ += bytes;
    if (!tmp_.fd) {
      auto tmp = create_tmp(store_->layout().tmp(), "b.");
      if (!tmp) return io_failure("creating a temporary file", tmp.error());
      tmp_ = std::move(*tmp);
    }
    for (auto part : {std::span<const char>(buffer_), more}) {
      hash_.update(part);
      blocks_.update(part);
      if (auto e = write_all(tmp_.fd.get(), part)) return io_failure("writing a body", e);
    }
    buffer_.clear();
    return {};
  }

  error_code fail(error_code ec) {
    failed_ = ec;
    discard();
    return ec;
  }

  void discard() {
    buffer_.clear();
    if (reserved_ != 0) store_->release_space(std::exchange(reserved_, 0), false);
    close_later(store_->pool(), std::move(tmp_.fd), std::exchange(tmp_.path, {}));
  }

  std::shared_ptr<DiskStore> store_;
  std::string key_;
  EntryMeta meta_;
  std::string buffer_;
  Sha256 hash_;         // the whole body: its name under objects/
  BlockHasher blocks_;  // each block: what readers verify
  TmpFile tmp_;         // created on the first flush
  std::uint64_t size_ = 0;
  std::uint64_t reserved_ = 0;  // against min_free_space, until commit or discard
  error_code failed_;
};

}  // namespace

std::unique_ptr<BodyWriter> make_writer(std::shared_ptr<DiskStore> store, std::string key, EntryMeta meta) {
  return std::make_unique<DiskWriter>(std::move(store), std::move(key), std::move(meta));
}

}  // namespace relay::storage::disk
