// The disk store's metadata record decoder (storage/disk/record.cpp). A
// corrupted or truncated record must be rejected, never crash or over-read.
// Byte 0 picks the mode: even = the rest as it is (bit rot, truncation; the
// checksum rejects almost all of it), odd = the rest sealed with a valid
// trailing SHA-256, so the payload parser itself sees arbitrary fields.
// Whatever decodes must encode back to a record that decodes the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "../../src/storage/disk/hash.hpp"
#include "../../src/storage/disk/record.hpp"

using namespace relay::storage::disk;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 256 * 1024) return 0;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    Sha256 sum;
    sum.update(bytes);
    auto digest = sum.finish();
    bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  }
  (void)record_version(bytes);
  auto record = decode_record(bytes);
  if (!record) return 0;
  auto again = decode_record(encode_record(record->key, record->meta, record->body_hex, record->blocks));
  if (!again || again->key != record->key || again->body_hex != record->body_hex ||
      again->blocks != record->blocks || again->meta.body_size != record->meta.body_size)
    std::abort();
  return 0;
}
