// The block lists that let a reader verify a body 64 KiB at a time: hashing
// blocks as a body is written, and reading one back block by block (see
// blocks.hpp for the invariants). SHA-256 itself is in hash.cpp. Blocking.
#include "blocks.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace relay::storage::disk {

bool blocks_fit(std::string_view blocks, std::uint64_t size) noexcept {
  return blocks.size() % block_digest_size == 0 && blocks.size() / block_digest_size == block_count(size);
}

void BlockHasher::update(std::span<const char> data) {
  while (!data.empty()) {
    auto take = std::min(data.size(), block_size - filled_);
    block_.update(data.first(take));
    filled_ += take;
    data = data.subspan(take);
    if (filled_ == block_size) {
      auto digest = block_.finish();
      digests_.append(reinterpret_cast<const char*>(digest.data()), digest.size());
      filled_ = 0;
    }
  }
}

std::string BlockHasher::finish() {
  if (filled_ > 0) {
    auto digest = block_.finish();
    digests_.append(reinterpret_cast<const char*>(digest.data()), digest.size());
    filled_ = 0;
  }
  return std::exchange(digests_, {});
}

BlockReader::BlockReader(Fd fd, std::uint64_t size, BlockList blocks, bool verify)
    : fd_(std::move(fd)), size_(size), blocks_(std::move(blocks)), verify_(verify) {}

std::uint64_t BlockReader::start_at(std::uint64_t offset) noexcept {
  if (!started_) position_ = std::min(offset, size_) / block_size * block_size;
  started_ = true;
  from_start_ = position_ == 0;
  return position_;
}

Result<std::span<const char>> BlockReader::next() {
  started_ = true;
  if (failed_) return failed_;
  if (done()) return std::span<const char>{};
  const auto index = position_ / block_size;
  const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block_size, size_ - position_));
  if (buffer_.empty()) buffer_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(size_, block_size)));
  auto got = read_some(fd_.get(), std::span<char>(buffer_.data(), want), position_);
  if (!got) return failed_ = io_failure("reading a body", got.error());
  auto block = [&](std::string_view what) {
    return std::string(what) + " block " + std::to_string(index) + " (bytes " + std::to_string(position_) +
           "-" + std::to_string(position_ + want - 1) + ")";
  };
  if (*got < want) return corrupt(block("ends inside"));
  if (verify_) {
    hash_.update(std::span<const char>(buffer_.data(), want));
    auto digest = hash_.finish();
    if (std::memcmp(digest.data(), blocks_->data() + index * block_digest_size, digest.size()) != 0)
      return corrupt(block("fails its hash in"));
  }
  position_ += want;
  if (done()) fd_.reset();  // nothing more to read: do not hold the file
  return std::span<const char>(buffer_.data(), want);
}

error_code BlockReader::corrupt(std::string why) {
  fault_ = std::move(why);
  return failed_ = make_error_code(Errc::storage_corrupt);
}

}  // namespace relay::storage::disk
