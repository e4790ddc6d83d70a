// Private to disk/: the hashes the disk backend names and verifies bodies
// by: incremental SHA-256 (OpenSSL EVP; hash.cpp) and its hex form, the
// block size, and the per-block digest lists (blocks.hpp uses them).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace relay::storage::disk {

// Bodies are written, hashed and read in blocks of this size: it bounds
// memory per reader and writer whatever the object size, and it is the unit
// of verification (blocks.hpp): block i is bytes [i * block_size,
// (i + 1) * block_size) of the body, the last one possibly shorter.
inline constexpr std::size_t block_size = 64 * 1024;

using Digest = std::array<unsigned char, 32>;

// The SHA-256 of each block of a body, concatenated in body order (32 bytes
// per block, none for an empty body). Immutable once made, so the index and
// every reader of the entry share one copy.
using BlockList = std::shared_ptr<const std::string>;

// Incremental SHA-256 (OpenSSL EVP; hash.cpp). Not shared between threads.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const char> data);
  Digest finish();  // and starts over: the object hashes the next message

 private:
  evp_md_ctx_st* ctx_;
};

std::string to_hex(const Digest& digest);
std::string sha256_hex(std::string_view data);
// The same into out (replacing what it held), with this thread's hasher:
// no allocation once out has room, for the lookups of the hit path.
void sha256_hex(std::string_view data, std::string& out);
bool is_digest_hex(std::string_view name) noexcept;

}  // namespace relay::storage::disk
