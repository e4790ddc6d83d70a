// The one streaming vocabulary of the request path. Everything that yields
// body bytes is a BodySource (the client's request body, an origin
// response, a stored body, a fill's spool, another instance's fill in
// Redis); everything that answers a client is a ResponseSink (HTTP/1.1
// today, HTTP/2 next). proxy/ speaks only these two, so it never sees a
// socket or a wire format; proxy/pump.hpp joins a source to its sinks.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "relay/http/byte_stream.hpp"
#include "relay/http/response.hpp"
#include "relay/util/result.hpp"

namespace relay::http {

// Bytes [offset, offset + size) of an open file (a memory object's memfd, a
// stored file) that the kernel can put on a socket without copying them
// through user space. Whoever hands one out keeps the file open as long as
// it said it would.
struct FileRegion {
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next chunk; an empty span is the end of the body. The span stays
  // valid until the next call. After an error the source is spent.
  virtual boost::asio::awaitable<Result<std::span<const char>>> read() = 0;
};

// One response to one client request. Calls come in order: any number of
// interim(), then write_head(), write_body()..., then finish() — or abort()
// at any point when the response cannot be completed. A failed write means
// the client is gone: later writes fail too and cost nothing.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // An origin's 1xx response, before the final head (RFC 9110 §15.2); the
  // sink drops those its client may not receive.
  virtual boost::asio::awaitable<void> interim(const ResponseHead& head) = 0;
  // content_length: the exact body size when known, else the sink frames
  // the body itself (chunked, or the end of the stream).
  virtual boost::asio::awaitable<Result<void>> write_head(ResponseHead head,
                                                          std::optional<std::uint64_t> content_length) = 0;
  virtual boost::asio::awaitable<Result<void>> write_body(std::span<const char> chunk) = 0;
  // Body bytes straight from a file, for a transport that can send them
  // without a copy (plain HTTP/1.1: sendfile(2)). Ask sends_files() first:
  // elsewhere write_file() reads the region and calls write_body(), which
  // is correct but slower than the caller reading the bytes it already has.
  virtual bool sends_files() const noexcept { return false; }
  virtual boost::asio::awaitable<Result<void>> write_file(FileRegion region);
  virtual boost::asio::awaitable<Result<void>> finish() = 0;
  // The exchange failed: a response cut short (the head is out, the body is
  // not complete), or a request whose body was left half-read. The client
  // must see it as incomplete and the transport must not carry another
  // exchange as if nothing happened (HTTP/1.1: the connection closes).
  virtual void abort() noexcept = 0;
  // A complete small response in one call (errors, relay's own endpoints).
  virtual boost::asio::awaitable<Result<void>> write_simple(int status, std::string_view content_type,
                                                            std::string_view body, Headers extra = {}) = 0;

  // RFC 9110 §7.8: sends `head` (a 101 naming the new protocol in its
  // Upgrade field) and hands over the connection's raw bytes both ways,
  // starting with any the client sent after its request head. Only where
  // the transport can (an HTTP/1.1 client that asked to upgrade); the sink
  // takes no other call afterwards and the stream lives as long as it.
  // An error: the switch is impossible here, or the client is gone.
  virtual boost::asio::awaitable<Result<ByteStream*>> switch_protocols(ResponseHead head) = 0;
  // Would switch_protocols() work now? Asked before the origin is.
  virtual bool can_switch_protocols() const noexcept = 0;

  virtual bool head_sent() const noexcept = 0;
  virtual int status() const noexcept = 0;              // of the final head, 0 before it
  virtual std::uint64_t body_bytes() const noexcept = 0;  // body bytes written so far
};

}  // namespace relay::http
