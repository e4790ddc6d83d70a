// The Redis record format: how an entry's metadata is written to and read
// back from one Redis string (Stored). Pure: no connection, no Asio.
//
// Format, version 2. It is the contract between every relay instance that
// shares a url and key_prefix: change it only together with the version tag.
//   <prefix>m:<cache key>      metadata string (below); TTL = keep_for
//   <prefix>b:<body id>:<n>    body bytes, chunk n = 0..count-1 in order, each
//                              non-empty; TTL = keep_for + 60 s
// keep_for 0 means one day, so nothing lingers forever. The body id is 32
// random hex digits, new for every put, so a replacement never overwrites a
// body someone may be reading. Metadata:
//   "relay-meta 2\n"
//   "<status> <request_time> <response_time> <keep_for> <body_size>
//    <chunk_count> <body id> <header_count>\n"  (one line, single spaces,
//                      decimal; times in ns since the Unix epoch, keep_for in s)
//   reason, then name and value of each header, each as "<length>:<bytes>\n"
//   internal meta: "<kind> <encoding> <raw_size or -> <pending writer>\n"
//   (EntryKind, BodyEncoding as numbers), then the Vary index's names and
//   generation as "<length>:<bytes>\n"
//   purge facts, only when the entry has tags or a stale mark (so untagged
//   entries read the same to relays that predate them, and older records
//   read as untagged): "purge <tag count> <stale_at in ns or ->\n", then
//   each tag as "<length>:<bytes>\n"
//   <prefix>tag:<tag>          a SET of the cache keys of entries stored with
//                              the tag; its TTL is re-armed on every SADD to at
//                              least the entry's (the longest member's), so
//                              members can be stale: a purge reads each entry
//   <prefix>f:<cache key>      a fill in progress: metadata as above with
//                              chunk_count 1 and body_size the writer's chunk
//                              size (each chunk but the last has exactly that
//                              many bytes; it grows by APPEND while the fill
//                              runs); older writers wrote 0 and 0
//                              and whole chunks of any size. TTL 3 s,
//                              re-armed every second by its live writer
// Unreadable metadata (another version) is treated as a miss, and expires
// by its TTL: version 1 carried storage facts as X-Relay-* header fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/storage/storage.hpp"

namespace relay::storage::redis {

// An entry as Redis holds it: the metadata, and where its body is.
struct Stored {
  EntryMeta meta;
  std::string body_id;
  std::uint64_t chunks = 0;
};

// The metadata string of an entry (or of a fill's announcement).
std::string encode(const Stored& s);
// nullopt for anything encode() did not write, including other versions.
std::optional<Stored> decode(std::string_view in);

}  // namespace relay::storage::redis
