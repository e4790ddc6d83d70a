// Range requests served from a complete stored response (RFC 9110 §14).
// Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "relay/http/headers.hpp"

namespace relay::cache {

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  std::uint64_t length() const noexcept { return last - first + 1; }
};

enum class RangeOutcome {
  Full,           // no Range, an ignored one (multiple ranges, other unit,
                  // invalid syntax), or If-Range failed: send 200 and the whole body
  Partial,        // send 206 with the range
  Unsatisfiable,  // send 416 with Content-Range: bytes */size
};

struct RangeDecision {
  RangeOutcome outcome = RangeOutcome::Full;
  ByteRange range;
};

// Single byte ranges including "bytes=N-", "bytes=N-M" and suffix "bytes=-N";
// If-Range (§13.1.5) compares a strong ETag or an exact Last-Modified date.
RangeDecision evaluate_range(const http::Headers& request, const http::Headers& stored, std::uint64_t size);

// The If-Range value that names exactly this representation (§13.1.5): its
// strong ETag, else its Last-Modified when Date is at least a second later
// (§8.8.2.2); nullopt when it has neither. Two responses with the same
// strong validator have the same bytes, so one may continue the other.
std::optional<std::string> strong_validator(const http::Headers& headers);

// "bytes 0-99/1000"
std::string content_range(const ByteRange& range, std::uint64_t size);
// "bytes */1000"
std::string unsatisfied_range(std::uint64_t size);

}  // namespace relay::cache
