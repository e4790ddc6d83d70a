// Private to disk/: the metadata record, one file per cache key under meta/
// (format in record.cpp): everything needed to serve and re-index a key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hash.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage::disk {

// A record is read whole at start, so its size is bounded. What grows with
// the body is its block list (32 bytes per block): bodies are limited so the
// list takes at most half a record, 32 MiB for a 64 GiB body. The rest is
// far above any real header block.
inline constexpr std::size_t max_record_bytes = 64 << 20;
inline constexpr std::uint64_t max_body_size =
    std::uint64_t{max_record_bytes / 2 / std::tuple_size_v<Digest>} * block_size;

// A decoded metadata record: everything needed to serve and re-index a key.
struct Record {
  std::string key;
  EntryMeta meta;        // meta.body_size is the body's size
  std::string body_hex;  // SHA-256 of the body: its name under objects/
  std::string blocks;    // the body's BlockList
};

std::string encode_record(const std::string& key, const EntryMeta& meta, const std::string& body_hex,
                          std::string_view blocks);
// nullopt for anything malformed: wrong magic or version, truncation, a bad
// checksum, trailing bytes, a block list that does not fit the body size.
std::optional<Record> decode_record(std::string_view bytes);
// The format version of something that starts like a record, else nullopt.
std::optional<std::uint16_t> record_version(std::string_view bytes);
inline constexpr std::uint16_t current_record_version = 3;

}  // namespace relay::storage::disk
