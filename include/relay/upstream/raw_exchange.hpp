// One request on a raw origin connection (raw_connection.hpp): the head
// goes out, the response head comes in (within upstream.first_byte_timeout;
// 1xx other than 101 are skipped), and then either the connection itself is
// handed over (after 101 Switching Protocols, with the bytes already read
// past the head) or the response body is read as a BodySource, decoded from
// its framing, each read within upstream.idle_timeout.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/http/body.hpp"
#include "relay/http/byte_stream.hpp"
#include "relay/upstream/response_head.hpp"

namespace relay::upstream {

class RawExchange final : public http::BodySource {
 public:
  RawExchange(std::unique_ptr<http::ByteStream> stream, const config::UpstreamConfig& cfg);

  boost::asio::awaitable<Result<void>> send(std::string_view head);
  // The final head (or a 101). upstream_protocol for a malformed or
  // oversized head, upstream_first_byte_timeout, upstream_reset.
  boost::asio::awaitable<Result<http::ResponseHead>> read_head(std::string_view method);

  // After a head other than 101: its body, decoded; an empty span at the end.
  boost::asio::awaitable<Result<std::span<const char>>> read() override;
  // Whether the body may be forwarded at all (upstream_transfer_coding if not).
  bool body_readable() const noexcept { return framing_.kind != BodyFraming::Unsupported; }
  // The body length when the origin declared it.
  std::optional<std::uint64_t> body_length() const noexcept;

  // After a 101: the bytes read past the head, then the connection.
  std::string take_buffered();
  http::ByteStream& stream() noexcept { return *stream_; }

  static constexpr std::size_t max_head = 64 * 1024;
  static constexpr std::size_t chunk = 16 * 1024;

 private:
  // Reads more into buffer_ within `timeout`; 0 bytes = the origin closed.
  boost::asio::awaitable<Result<std::size_t>> fill(config::Duration timeout, Errc on_timeout);

  std::unique_ptr<http::ByteStream> stream_;
  const config::UpstreamConfig& cfg_;
  std::string buffer_;  // read but not yet consumed
  BodyFraming framing_;
  std::uint64_t body_left_ = 0;  // with Length
  ChunkedDecoder chunked_;
  std::string decoded_;  // what the last read() returned
  bool body_done_ = false;
};

}  // namespace relay::upstream
