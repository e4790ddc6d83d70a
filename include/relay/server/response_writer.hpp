// Writes one response to the client: chooses the framing (Content-Length,
// chunked, or close-delimited for HTTP/1.0), adds Connection as needed, and
// coalesces the head with the first body chunk into one write. Interim (1xx)
// responses the origin sends ahead of it go out at once, each on its own.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "relay/http/body.hpp"
#include "relay/http/request.hpp"
#include "relay/http/response.hpp"
#include "relay/server/client_stream.hpp"
#include "relay/util/result.hpp"

namespace relay::server {

class Watchdog;

class ResponseWriter final : public http::ResponseSink {
 public:
  // head_buffer: the connection's, reused by each of its responses so that a
  // head allocates nothing once the buffer has grown to fit.
  ResponseWriter(ClientSocket& socket, Watchdog& watchdog,
                 std::chrono::milliseconds send_timeout, const http::Request& request,
                 bool keep_alive_allowed, std::string& head_buffer);

  // content_length: the exact body size when known; otherwise the body is
  // chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0).
  boost::asio::awaitable<Result<void>> write_head(http::ResponseHead head,
                                                  std::optional<std::uint64_t> content_length) override;
  // An origin's interim response, sent before the head (RFC 9110 §15.2).
  // Nothing is sent to an HTTP/1.0 client, once the head has started, for
  // 101, or for 100 (relay answers Expect: 100-continue itself).
  boost::asio::awaitable<Result<void>> write_interim(const http::ResponseHead& head);
  boost::asio::awaitable<void> interim(const http::ResponseHead& head) override;
  boost::asio::awaitable<Result<void>> write_body(std::span<const char> chunk) override;
  // sendfile(2) on a plain connection; over TLS the generic read-and-write.
  bool sends_files() const noexcept override;
  boost::asio::awaitable<Result<void>> write_file(http::FileRegion region) override;
  boost::asio::awaitable<Result<void>> finish() override;
  void abort() noexcept override { force_close(); }

  // A complete small response in one call (errors, /metrics).
  boost::asio::awaitable<Result<void>> write_simple(int status, std::string_view content_type,
                                                    std::string_view body,
                                                    http::Headers extra = {}) override;

  // The session offers the connection for a protocol switch: `take_buffered`
  // yields what was read past the request head. switch_protocols() then
  // works for an HTTP/1.1 request carrying Upgrade and Connection: upgrade.
  void offer_switch(std::function<std::string()> take_buffered) { take_buffered_ = std::move(take_buffered); }
  boost::asio::awaitable<Result<http::ByteStream*>> switch_protocols(http::ResponseHead head) override;
  bool can_switch_protocols() const noexcept override;
  bool switched() const noexcept { return tunnel_.has_value(); }

  bool head_sent() const noexcept override { return head_started_; }
  bool keep_alive() const noexcept { return keep_alive_; }
  // Must the connection close before the next request (framing or failure)?
  void force_close() noexcept { keep_alive_ = false; }
  int status() const noexcept override { return status_; }
  std::uint64_t body_bytes() const noexcept override { return body_bytes_; }

 private:
  boost::asio::awaitable<Result<void>> send(std::span<const boost::asio::const_buffer> buffers);
  // Appends the head, with this connection's framing fields, to head_bytes_.
  void serialize_head(const http::ResponseHead& head, std::optional<std::uint64_t> content_length);

  ClientSocket& socket_;
  Watchdog& watchdog_;
  std::chrono::milliseconds send_timeout_;
  const http::Request& request_;
  bool keep_alive_;
  bool head_started_ = false;
  bool head_flushed_ = false;
  bool no_body_ = false;
  bool chunked_ = false;
  bool finished_ = false;
  int status_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::string& head_bytes_;
  std::function<std::string()> take_buffered_;
  std::optional<ClientStream> tunnel_;  // after a 101
};

}  // namespace relay::server
