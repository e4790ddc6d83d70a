// SHA-256 for the disk backend (OpenSSL EVP) and its hex helpers: bodies are
// named by the hex digest of their bytes, records by that of their key.
// Blocking, like all hashing.
#include "hash.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

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
  // The digest it already has: EVP_DigestInit_ex with EVP_sha256() would
  // fetch the algorithm again, an allocation per message.
  EVP_DigestInit_ex2(ctx_, nullptr, nullptr);
  return out;
}

namespace {
void append_hex(const Digest& digest, std::string& out) {
  static constexpr char digits[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
}
}  // namespace

std::string to_hex(const Digest& digest) {
  std::string out;
  out.reserve(digest.size() * 2);
  append_hex(digest, out);
  return out;
}

void sha256_hex(std::string_view data, std::string& out) {
  thread_local Sha256 hasher;  // finish() leaves it ready for the next message
  hasher.update(data);
  out.clear();
  append_hex(hasher.finish(), out);
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

}  // namespace relay::storage::disk
