// The Redis metadata decoder (storage/redis/format.cpp): what another relay
// (or anything else with the Redis password) wrote under relay's prefix.
// Anything malformed must be a miss, never a crash or an over-read; what
// decodes must encode back to the same record.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "../../src/storage/redis/format.hpp"

using namespace relay::storage::redis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return 0;
  auto stored = decode(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!stored) return 0;
  const auto encoded = encode(*stored);
  auto again = decode(encoded);
  if (!again || again->body_id != stored->body_id || again->chunks != stored->chunks ||
      again->meta.body_size != stored->meta.body_size || again->meta.status != stored->meta.status) {
    std::fprintf(stderr, "decoded, then encoded as:\n%s\n%s\n", encoded.c_str(),
                 again ? "decodes differently" : "which does not decode");
    std::abort();
  }
  return 0;
}
