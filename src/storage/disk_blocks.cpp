// All hashing of the disk backend: SHA-256 (OpenSSL EVP) with its hex
// helpers, and the block lists that let a reader verify a body 64 KiB at a
// time (see disk_blocks.hpp for the invariants). Blocking.
#include "disk_blocks.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace relay::storage::disk {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw std::runtime_error("disk storage: SHA-256 unavailable");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

void Sha256::update(std::span<const char> data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_, data.data(), data.size());
}

Digest Sha256::finish() {
  Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, out.data(), &len);
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  return out;
}

std::string to_hex(const Digest& digest) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char b : digest) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return to_hex(h.finish());
}

bool is_digest_hex(std::string_view name) noexcept {
  return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

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

BlockReader::BlockReader(Fd fd, std::uint64_t size, BlockList blocks)
    : fd_(std::move(fd)),
      size_(size),
      blocks_(std::move(blocks)),
      buffer_(static_cast<std::size_t>(std::min<std::uint64_t>(size, block_size))) {}

std::uint64_t BlockReader::start_at(std::uint64_t offset) noexcept {
  if (!started_) position_ = std::min(offset, size_) / block_size * block_size;
  started_ = true;
  return position_;
}

Result<std::span<const char>> BlockReader::next() {
  started_ = true;
  if (failed_) return failed_;
  if (done()) return std::span<const char>{};
  const auto index = position_ / block_size;
  const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block_size, size_ - position_));
  auto got = read_some(fd_.get(), std::span<char>(buffer_.data(), want), position_);
  if (!got) return failed_ = io_failure("reading a body", got.error());
  auto block = [&](std::string_view what) {
    return std::string(what) + " block " + std::to_string(index) + " (bytes " + std::to_string(position_) +
           "-" + std::to_string(position_ + want - 1) + ")";
  };
  if (*got < want) return corrupt(block("ends inside"));
  hash_.update(std::span<const char>(buffer_.data(), want));
  auto digest = hash_.finish();
  if (std::memcmp(digest.data(), blocks_->data() + index * block_digest_size, digest.size()) != 0)
    return corrupt(block("fails its hash in"));
  position_ += want;
  if (done()) fd_.reset();  // nothing more to read: do not hold the file
  return std::span<const char>(buffer_.data(), want);
}

error_code BlockReader::corrupt(std::string why) {
  fault_ = std::move(why);
  return failed_ = make_error_code(Errc::storage_corrupt);
}

}  // namespace relay::storage::disk
