// Reads a disk body back one verified block at a time (BlockReader,
// blocks.hpp) on the store's I/O pool; a block that fails its hash drops
// every entry using the body before any of its bytes is handed out.
#include "blocks.hpp"
#include "relay/util/block_pool.hpp"
#include "store.hpp"

namespace relay::storage::disk {
namespace {

// Yields the body a verified block at a time (BlockReader): a block that
// fails its hash drops the entry and fails the read before any of its bytes
// is handed out. One block in memory; a Range skips the blocks before it.
class DiskReader final : public BodyReader {
 public:
  DiskReader(std::shared_ptr<DiskStore> store, std::string name, std::string key, std::string body_hex,
             BodyFile file, std::uint64_t size, BlockList blocks)
      : store_(std::move(store)),
        name_(std::move(name)),
        key_(std::move(key)),
        body_hex_(std::move(body_hex)),
        stamp_(file.stamp),
        trusted_(file.trusted),
        size_(size),
        blocks_(std::move(file.fd), size, std::move(blocks), !file.trusted) {}
  ~DiskReader() override { close_later(store_->pool(), blocks_.release()); }

  // Blocking. Reads the first block now (a body of one block: all of it), so
  // that a damaged one becomes a plain miss rather than a failed response.
  // On error, corrupt() tells which of the two it was.
  error_code preload() {
    auto got = next_block();
    if (!got) return got.error();
    preloaded_ = *got;
    return {};
  }
  bool corrupt() const noexcept { return corrupt_; }

  std::uint64_t start_at(std::uint64_t offset) override {
    // A preloaded block is block 0, already read.
    return preloaded_ ? 0 : blocks_.start_at(offset);
  }

  // Only a trusted body: its bytes were checked and are still in the page
  // cache, so sending them straight from the file reads nothing from disk.
  std::optional<http::FileRegion> file() const noexcept override {
    if (!trusted_ || blocks_.fd() < 0) return std::nullopt;
    return http::FileRegion{blocks_.fd(), 0, size_};
  }

  asio::awaitable<Result<std::span<const char>>> read() override {
    if (preloaded_) co_return std::exchange(preloaded_, std::nullopt).value();
    if (failed_) co_return failed_;
    if (blocks_.done()) co_return std::span<const char>{};
    co_return co_await on_pool(store_->pool(), [this] { return next_block(); });
  }

 private:
  // Blocking.
  Result<std::span<const char>> next_block() {
    auto got = blocks_.next();
    if (got) {
      if (blocks_.verified_whole()) store_->mark_verified(body_hex_, stamp_);
      return got;
    }
    failed_ = got.error();
    if (failed_ == Errc::storage_corrupt) {
      store_->drop_corrupt(name_, key_, body_hex_, blocks_.fault());
      corrupt_ = true;
    }
    return failed_;
  }

  std::shared_ptr<DiskStore> store_;
  std::string name_, key_, body_hex_;
  FileStamp stamp_;
  bool trusted_;
  std::uint64_t size_;
  BlockReader blocks_;
  std::optional<std::span<const char>> preloaded_;
  bool corrupt_ = false;
  error_code failed_;
};

// A trusted body (verified under the stamp its file still has, and in the
// page cache) through its object's kept-open file: the event loop sends it
// with sendfile; read(), for a sink that cannot, reads 64 KiB slices on the
// pool without hashing them again.
class OpenFileReader final : public BodyReader, public util::PooledAllocation {
 public:
  OpenFileReader(std::shared_ptr<DiskStore> store, std::shared_ptr<const Fd> fd, std::uint64_t size)
      : store_(std::move(store)), fd_(std::move(fd)), size_(size) {}

  std::optional<http::FileRegion> file() const noexcept override { return http::FileRegion{fd_->get(), 0, size_}; }

  std::uint64_t start_at(std::uint64_t offset) override {
    if (!started_) position_ = std::min(offset, size_);
    started_ = true;
    return position_;
  }

  asio::awaitable<Result<std::span<const char>>> read() override {
    started_ = true;
    if (position_ >= size_) co_return std::span<const char>{};
    co_return co_await on_pool(store_->pool(), [this]() -> Result<std::span<const char>> {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block_size, size_ - position_));
      buffer_.resize(want);
      auto got = read_some(fd_->get(), std::span<char>(buffer_.data(), want), position_);
      if (!got) return io_failure("reading a body", got.error());
      if (*got < want) return unavailable();  // it shrank since its stamp was checked
      position_ += want;
      return std::span<const char>(buffer_.data(), want);
    });
  }

 private:
  std::shared_ptr<DiskStore> store_;  // before fd_: alive while fd_'s deleter runs
  std::shared_ptr<const Fd> fd_;
  std::uint64_t size_;
  std::uint64_t position_ = 0;
  bool started_ = false;
  std::vector<char> buffer_;
};

}  // namespace

std::unique_ptr<BodyReader> make_open_file_reader(std::shared_ptr<DiskStore> store, std::shared_ptr<const Fd> fd,
                                                  std::uint64_t size) {
  return std::make_unique<OpenFileReader>(std::move(store), std::move(fd), size);
}

Result<std::optional<Hit>> make_hit(std::shared_ptr<DiskStore> store, const std::string& name,
                                    const std::string& key, const std::string& body_hex, BodyFile file,
                                    EntryMeta meta, BlockList blocks) {
  const bool trusted = file.trusted;
  auto reader = std::make_unique<DiskReader>(std::move(store), name, key, body_hex, std::move(file),
                                             meta.body_size, std::move(blocks));
  if (!trusted && meta.body_size <= block_size) {
    if (auto ec = reader->preload()) {
      if (reader->corrupt()) return std::optional<Hit>{};
      return ec;
    }
  }
  return std::optional<Hit>{Hit{std::move(meta), std::move(reader)}};
}

}  // namespace relay::storage::disk
