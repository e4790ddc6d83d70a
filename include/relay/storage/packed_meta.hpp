// EntryMeta packed into as few bytes as it can take, for the memory store,
// where an entry's metadata lives as long as the entry and costs RSS for
// every object held. An EntryMeta as C++ objects is ~250 bytes of structs
// plus a heap string per long field; packed, a typical response head takes
// a third of the bytes it has on the wire (half once the table of repeated
// values below is full):
//  - well-known field names (in their usual spelling, or all lower case)
//    are one byte; others are written out;
//  - date fields that are in the canonical IMF-fixdate form (nearly every
//    Date, Last-Modified and Expires) are their seconds since the epoch,
//    and are formatted back byte for byte;
//  - values of fields that repeat across responses (Server, Content-Type,
//    Cache-Control, ...) are interned in a bounded process-wide table;
//  - numbers are varints, the request time a difference from the response's.
// Not a wire or disk format: packed and unpacked by the same binary, so it
// carries no version and trusts its input.
#pragma once

#include <span>
#include <string>

#include "relay/storage/storage.hpp"

namespace relay::storage {

// Appends meta's packed form to out.
void pack_meta(const EntryMeta& meta, std::string& out);
// The EntryMeta pack_meta wrote; bytes must be exactly what it appended.
EntryMeta unpack_meta(std::span<const char> bytes);

}  // namespace relay::storage
