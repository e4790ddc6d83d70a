// One HTTP/2 stream as the request path sees it: the request head decoded
// from HEADERS, its body as a BodySource (DATA frames, flow-controlled: a
// byte is acknowledged to the client with WINDOW_UPDATE only once the
// consumer has taken it, so a stream never holds more than its window) and
// the response as a ResponseSink (bytes go to a per-stream buffer that
// nghttp2's data callback drains; write_body waits while it is above a
// high-water mark, so a slow stream holds at most that much and never
// blocks the others). Everything runs on the connection's one thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "relay/http/body.hpp"
#include "relay/http/request.hpp"
#include "relay/util/block_pool.hpp"
#include "relay/util/pooled_frame.hpp"
#include "relay/util/request_context.hpp"

struct nghttp2_session;

namespace relay::config {
struct ServerConfig;
}
namespace relay::metrics {
class Metrics;
}

namespace relay::server {

// A wake-up for one coroutine on this thread: wait() until notify() or a
// deadline. notify() with nobody waiting is lost, so waiters check their
// condition first (nothing runs between that check and the wait).
class Wakeup {
 public:
  explicit Wakeup(const boost::asio::any_io_executor& ex) : timer_(ex) {}
  void notify() noexcept { timer_.cancel(); }
  // false: the deadline passed without a notify().
  boost::asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline);

 private:
  boost::asio::steady_timer timer_;
};

// What a stream uses of its connection. `session` is null once the
// connection is gone: from then on every stream operation fails at once.
struct H2Link {
  explicit H2Link(const boost::asio::any_io_executor& ex) : writer(ex) {}
  nghttp2_session* session = nullptr;
  Wakeup writer;  // something to send
  // Inside nghttp2_session_mem_recv/mem_send: acknowledgements wait in
  // `deferred` until it returns (no re-entering nghttp2 from its callbacks).
  bool in_nghttp2 = false;
  std::vector<std::pair<std::int32_t, std::size_t>> deferred;
  void consume(std::int32_t stream_id, std::size_t n);
  void flush_deferred();
};

struct H2Stream {
  H2Stream(H2Link& link, std::int32_t id, const boost::asio::any_io_executor& ex)
      : link(link), id(id), body_wake(ex), send_wake(ex) {}
  // Gives its strings' buffers to the thread's string stash, which the next
  // stream's take (assign_recycled): a new stream allocates none of them.
  ~H2Stream();
  H2Stream(const H2Stream&) = delete;
  H2Stream& operator=(const H2Stream&) = delete;

  // The stream closed under us (a reset, or the connection ended): the
  // request body and response both fail from here on.
  void closed_by_nghttp2(std::uint32_t error_code);
  // The request body is no longer read: what is buffered and what still
  // comes is acknowledged at once.
  void release_body();
  // Bytes handed out by the body source are taken: acknowledge them.
  void consume(std::size_t n);

  H2Link& link;
  const std::int32_t id;
  http::Request req;
  std::shared_ptr<RequestContext> context = std::allocate_shared<RequestContext>(util::PoolAllocator<RequestContext>{});
  boost::asio::cancellation_signal cancel;  // the handler coroutine's: terminal on connection cancel
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Request head, as HEADERS decode.
  std::uint64_t header_bytes = 0;  // RFC 9113 §6.5.2 accounting: name + value + 32 per field
  bool header_too_large = false;
  std::string authority;
  std::string cookies;  // RFC 9113 §8.2.3: joined with "; "
  bool handler_started = false;

  // Request body.
  std::string body_in;       // received, not yet handed out
  std::string body_out;      // handed out by the last read()
  std::size_t handed = 0;    // bytes of body_out not yet acknowledged
  std::uint64_t body_received = 0;
  std::uint64_t body_limit = 0;  // 0 = none
  bool body_ended = false;       // END_STREAM received
  bool body_over_limit = false;
  bool body_released = false;
  Wakeup body_wake;

  // Response.
  std::string out;            // accepted, not yet framed into DATA
  std::size_t out_pos = 0;
  bool out_eof = false;       // finish(): the data callback ends the stream once `out` is drained
  bool response_submitted = false;
  bool response_complete = false;  // END_STREAM framed
  Wakeup send_wake;

  // The response ended before the request body (RFC 9113 §8.1): the rest
  // of the body is taken and dropped until this deadline, so a client still
  // uploading sees its request end cleanly; then RST_STREAM(NO_ERROR).
  std::optional<std::chrono::steady_clock::time_point> linger_until;
  std::uint64_t lingered = 0;  // body bytes dropped while lingering

  bool closed = false;
  std::uint32_t close_code = 0;

  std::size_t unsent() const noexcept { return out.size() - out_pos; }
};

// The request body of one stream. A read waits at most idle_timeout for
// the next DATA; a body growing past the stream's limit, or too slow, ends
// as in HTTP/1.1: 413 / 408 when no response has started, else a reset.
class H2BodySource final : public http::BodySource {
 public:
  H2BodySource(H2Stream& stream, http::ResponseSink& out, const config::ServerConfig& cfg,
               metrics::Metrics& metrics);
  ~H2BodySource() override;
  boost::asio::awaitable<Result<std::span<const char>>> read() override;

 private:
  boost::asio::awaitable<Result<std::span<const char>>> refuse(int status);

  H2Stream& s_;
  http::ResponseSink& out_;
  const config::ServerConfig& cfg_;
  metrics::Metrics& metrics_;
  error_code failed_;
};

// target = value, in a buffer from the thread's string stash when target's
// own is smaller than `room` (at least value's size).
void assign_recycled(std::string& target, std::string_view value, std::size_t room = 0);

class H2ResponseSink final : public http::ResponseSink {
 public:
  using coroutine_frames = util::PooledFrames;  // write_head, write_body...: every response

  // stall_timeout: the longest write_body waits for the client's window to
  // open (server.idle_timeout); past it the stream is reset.
  H2ResponseSink(H2Stream& stream, std::chrono::milliseconds stall_timeout, metrics::Metrics& metrics);

  boost::asio::awaitable<void> interim(const http::ResponseHead& head) override;
  boost::asio::awaitable<Result<void>> write_head(http::ResponseHead head,
                                                  std::optional<std::uint64_t> content_length) override;
  boost::asio::awaitable<Result<void>> write_body(std::span<const char> chunk) override;
  boost::asio::awaitable<Result<void>> finish() override;
  void abort() noexcept override;
  boost::asio::awaitable<Result<void>> write_simple(int status, std::string_view content_type,
                                                    std::string_view body, http::Headers extra = {}) override;
  boost::asio::awaitable<Result<http::ByteStream*>> switch_protocols(http::ResponseHead head) override;
  bool can_switch_protocols() const noexcept override { return false; }

  bool head_sent() const noexcept override { return status_ != 0; }
  int status() const noexcept override { return status_; }
  std::uint64_t body_bytes() const noexcept override { return body_bytes_; }
  // finish() or abort() was called.
  bool ended() const noexcept { return finished_ || aborted_; }

  // Above this much unsent, write_body waits for the data callback.
  static constexpr std::size_t high_water = 64 * 1024;

 private:
  bool gone() const noexcept;

  H2Stream& s_;
  std::chrono::milliseconds stall_timeout_;
  metrics::Metrics& metrics_;
  int status_ = 0;
  bool no_body_ = false;
  bool finished_ = false;
  bool aborted_ = false;
  std::uint64_t body_bytes_ = 0;
};

}  // namespace relay::server
