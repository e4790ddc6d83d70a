// Reading an origin's response off a raw connection (upstream/raw_connection):
// the head (RFC 9112 §4, §5) and the body framing (§6.3), chunked decoding
// included (§7.1). Pure: no sockets, tested byte by byte. Ordinary origin
// requests go through curl, which does all of this itself; these serve the
// requests relay sends on a connection of its own (protocol upgrades).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/http/response.hpp"

namespace relay::upstream {

// Index just past the blank line ending a head in `bytes`, or npos.
std::size_t find_head_end(std::string_view bytes);

// A head up to and including its blank line; nullopt when malformed
// (no "HTTP/1.x NNN" status line, a field line without a colon or with
// whitespace before it, obsolete line folding).
std::optional<http::ResponseHead> parse_response_head(std::string_view head);

struct BodyFraming {
  enum Kind { None, Length, Chunked, UntilClose, Unsupported } kind = None;
  std::uint64_t length = 0;  // with Length
};
// How the body of `head`, the answer to a request of `method`, is delimited.
BodyFraming body_framing(const http::ResponseHead& head, std::string_view method);

// Incremental chunked decoding: feed() takes what arrived and appends the
// body bytes to `out`. Chunk extensions and trailer fields are dropped.
class ChunkedDecoder {
 public:
  // Bytes of `in` consumed (all of them unless the body ended inside it);
  // nullopt on a framing error.
  std::optional<std::size_t> feed(std::string_view in, std::string& out);
  bool done() const noexcept { return state_ == State::Done; }

 private:
  enum class State { Size, Extension, SizeLf, Data, DataCr, DataLf, TrailerStart, TrailerLine, TrailerLf, Done };
  State state_ = State::Size;
  std::uint64_t remaining_ = 0;
  int size_digits_ = 0;
};

}  // namespace relay::upstream
