// A stream's request body and response over nghttp2 (see h2_stream.hpp).
// Nothing here waits on the socket: a stream queues frames with nghttp2 and
// wakes the connection's writer, which frames and sends them.
#include "relay/server/h2_stream.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/http/problem.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/util/log.hpp"
#include "relay/util/string_stash.hpp"

namespace relay::server {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

asio::awaitable<bool> Wakeup::wait(steady::time_point deadline) {
  timer_.expires_at(deadline);
  auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return ec == asio::error::operation_aborted;
}

void H2Link::consume(std::int32_t stream_id, std::size_t n) {
  if (n == 0 || !session) return;
  if (in_nghttp2) {
    deferred.emplace_back(stream_id, n);
    return;
  }
  // For a stream already closed this still opens the connection's window.
  nghttp2_session_consume(session, stream_id, n);
  writer.notify();
}

void H2Link::flush_deferred() {
  for (auto [stream_id, n] : std::exchange(deferred, {})) consume(stream_id, n);
}

void H2Stream::consume(std::size_t n) { link.consume(id, n); }

void H2Stream::release_body() {
  if (body_released) return;
  body_released = true;
  consume(body_in.size() + handed);
  body_in.clear();
  body_in.shrink_to_fit();
  handed = 0;
}

void H2Stream::closed_by_nghttp2(std::uint32_t error_code) {
  if (closed) return;
  // The connection window still counts what this stream held; it is given back.
  consume(body_in.size() + handed);
  body_in.clear();
  handed = 0;
  closed = true;
  close_code = error_code;
  body_wake.notify();
  send_wake.notify();
}

namespace {

// nghttp2_data_source_read_callback: frames the stream's buffered response.
ssize_t read_response_data(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto& s = *static_cast<H2Stream*>(source->ptr);
  const std::size_t n = std::min(length, s.unsent());
  if (n > 0) std::memcpy(buf, s.out.data() + s.out_pos, n);
  s.out_pos += n;
  if (s.out_pos == s.out.size()) {
    s.out.clear();
    s.out_pos = 0;
  }
  if (s.unsent() < H2ResponseSink::high_water) s.send_wake.notify();
  if (s.unsent() == 0 && s.out_eof) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    s.response_complete = true;
    return static_cast<ssize_t>(n);
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(n);
}

// RFC 9113 §8.2.2: fields specific to one connection have no place in HTTP/2.
bool connection_specific(std::string_view name, std::string_view value) {
  // By length first: most fields are none of these, and this runs per field per response.
  switch (name.size()) {
    case 2: return http::iequals(name, "te") && !http::iequals(http::trim(value), "trailers");
    case 7: return http::iequals(name, "upgrade");
    case 10: return http::iequals(name, "connection") || http::iequals(name, "keep-alive");
    case 16: return http::iequals(name, "proxy-connection");
    case 17: return http::iequals(name, "transfer-encoding");
    default: return false;
  }
}

// A header block for nghttp2 (it copies names and values on submit).
class HeaderBlock {
 public:
  // Lower-cased names go into one buffer, this thread's like the field
  // array: nghttp2 copies a block when it is submitted, so a block lives
  // only until then and the next one reuses both (no allocation per
  // response). One block at a time per thread: none is kept across a wait.
  HeaderBlock(int status, const http::Headers& fields) : names_(names_buffer()), nva_(nva_buffer()) {
    names_.clear();
    nva_.clear();
    const auto digits = std::to_chars(status_, status_ + sizeof status_, status);
    std::size_t name_bytes = 0;
    for (const auto& f : fields) name_bytes += f.name.size();
    names_.reserve(name_bytes);
    nva_.reserve(fields.size() + 1);
    push(std::string_view(status_, static_cast<std::size_t>(digits.ptr - status_)), ":status");
    for (const auto& f : fields) {
      if (connection_specific(f.name, f.value)) continue;
      const auto at = names_.size();
      names_.append(f.name);  // never reallocates (reserved), so earlier names stay put
      for (auto i = at; i < names_.size(); ++i) {
        if (names_[i] >= 'A' && names_[i] <= 'Z') names_[i] = static_cast<char>(names_[i] - 'A' + 'a');
      }
      push(f.value, std::string_view(names_).substr(at));
    }
  }
  const nghttp2_nv* data() const noexcept { return nva_.data(); }
  std::size_t size() const noexcept { return nva_.size(); }

 private:
  void push(std::string_view value, std::string_view name) {
    nva_.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE});
  }

  static std::string& names_buffer() {
    thread_local std::string names;
    return names;
  }
  static std::vector<nghttp2_nv>& nva_buffer() {
    thread_local std::vector<nghttp2_nv> nva;
    return nva;
  }

  char status_[12];
  std::string& names_;
  std::vector<nghttp2_nv>& nva_;
};

bool status_has_no_body(int status) { return status < 200 || status == 204 || status == 304; }

}  // namespace

// ---- request body ----

H2BodySource::H2BodySource(H2Stream& stream, http::ResponseSink& out, const config::ServerConfig& cfg,
                           metrics::Metrics& metrics)
    : s_(stream), out_(out), cfg_(cfg), metrics_(metrics) {}

H2BodySource::~H2BodySource() { s_.release_body(); }

asio::awaitable<Result<std::span<const char>>> H2BodySource::read() {
  if (failed_) co_return failed_;
  // Locals and named results only: GCC 12 loses `this` in this coroutine
  // with a co_await inside a condition or a `co_return co_await`.
  H2Stream& s = s_;
  // The caller is done with the previous chunk: its bytes may be sent again.
  s.consume(std::exchange(s.handed, 0));
  int refusal = 0;
  for (;;) {
    if (s.body_over_limit) {
      refusal = 413;
      break;
    }
    if (!s.body_in.empty()) {
      std::swap(s.body_in, s.body_out);
      s.body_in.clear();
      s.handed = s.body_out.size();
      co_return std::span<const char>(s.body_out.data(), s.body_out.size());
    }
    if (s.body_ended) co_return std::span<const char>();
    if (s.closed || !s.link.session) {
      failed_ = make_error_code(Errc::client_closed);
      co_return failed_;
    }
    const auto deadline = steady::now() + cfg_.idle_timeout;
    const bool woken = co_await s.body_wake.wait(deadline);
    if (!woken) {
      refusal = 408;
      break;
    }
  }
  auto refused = co_await refuse(refusal);
  co_return refused;
}

asio::awaitable<Result<std::span<const char>>> H2BodySource::refuse(int status) {
  const bool too_large = status == 413;
  failed_ = make_error_code(too_large ? Errc::request_body_too_large : Errc::client_timeout);
  s_.release_body();
  log::info("client ", s_.req.client_address, ": request body ",
            too_large ? "past server.max_body_size" : "stalled for server.idle_timeout",
            out_.head_sent() ? ": resetting the stream" : (too_large ? ": 413" : ": 408"));
  metrics_.record_client_error(status);
  if (!too_large) metrics_.record_client_timeout("body");
  if (out_.head_sent()) {
    out_.abort();
  } else if (too_large) {
    co_await http::respond_problem(out_, s_.req, 413, "content-too-large", http::body_limit_detail(s_.body_limit));
  } else {
    co_await http::respond_problem(out_, s_.req, 408, "request-timeout",
                                   "the request body was not received in time");
  }
  co_return failed_;
}

// ---- response ----

H2ResponseSink::H2ResponseSink(H2Stream& stream, std::chrono::milliseconds stall_timeout,
                               metrics::Metrics& metrics)
    : s_(stream), stall_timeout_(stall_timeout), metrics_(metrics) {}

bool H2ResponseSink::gone() const noexcept { return s_.closed || !s_.link.session || aborted_; }

asio::awaitable<void> H2ResponseSink::interim(const http::ResponseHead& head) {
  // 100 is relay's own business (no Expect handling over HTTP/2), 101 has no meaning here.
  if (gone() || head_sent() || head.status < 102 || head.status > 199) co_return;
  HeaderBlock block(head.status, head.headers);
  if (nghttp2_submit_headers(s_.link.session, NGHTTP2_FLAG_NONE, s_.id, nullptr, block.data(), block.size(),
                             nullptr) == 0)
    s_.link.writer.notify();
}

void assign_recycled(std::string& target, std::string_view value, std::size_t room) {
  if (target.capacity() < std::max(room, value.size())) target = util::recycled_string();
  target.assign(value);
}

H2Stream::~H2Stream() {
  util::recycle_string(req.target);
  util::recycle_string(req.received_target);
  util::recycle_string(req.request_id);
  util::recycle_string(authority);
  util::recycle_string(out);
  if (context.use_count() == 1) util::recycle_string(context->id);
}

asio::awaitable<Result<void>> H2ResponseSink::write_head(http::ResponseHead head,
                                                         std::optional<std::uint64_t> content_length) {
  if (gone()) co_return make_error_code(Errc::client_closed);
  status_ = head.status;
  no_body_ = s_.req.is_head() || status_has_no_body(head.status);
  if (!no_body_) {
    head.headers.remove("content-length");
    if (content_length) head.headers.add("content-length", std::to_string(*content_length));
  }
  HeaderBlock block(head.status, head.headers);
  nghttp2_data_provider provider{};
  provider.source.ptr = &s_;
  provider.read_callback = read_response_data;
  const int rv =
      nghttp2_submit_response(s_.link.session, s_.id, block.data(), block.size(), no_body_ ? nullptr : &provider);
  if (rv != 0) {
    aborted_ = true;
    co_return make_error_code(Errc::client_closed);
  }
  s_.response_submitted = true;
  if (no_body_) s_.response_complete = true;
  s_.link.writer.notify();
  co_return Result<void>{};
}

asio::awaitable<Result<void>> H2ResponseSink::write_body(std::span<const char> chunk) {
  if (gone()) co_return make_error_code(Errc::client_closed);
  if (no_body_ || chunk.empty()) co_return Result<void>{};
  // What was framed is dropped once it is half the buffer: a stream that
  // never drains completely must not keep every byte it ever sent.
  if (s_.out_pos > 0 && s_.out_pos >= s_.out.size() / 2) {
    s_.out.erase(0, s_.out_pos);
    s_.out_pos = 0;
  }
  if (s_.out.empty()) assign_recycled(s_.out, {}, chunk.size());  // nothing pending to keep
  s_.out.append(chunk.data(), chunk.size());
  body_bytes_ += chunk.size();
  nghttp2_session_resume_data(s_.link.session, s_.id);
  s_.link.writer.notify();
  // The client's window decides how fast this drains; waiting here is the
  // back-pressure that reaches the origin.
  const auto deadline = steady::now() + stall_timeout_;
  while (s_.unsent() >= high_water) {
    if (gone()) co_return make_error_code(Errc::client_closed);
    // A named result, not a co_await in the condition: GCC 12 miscompiles that shape here.
    const bool woken = co_await s_.send_wake.wait(deadline);
    if (!woken) {
      if (gone()) co_return make_error_code(Errc::client_closed);
      log::info("client ", s_.req.client_address, ": stream ", s_.id,
                " took no response data for server.idle_timeout: resetting it");
      metrics_.record_http2_abuse("stalled");
      abort();
      co_return make_error_code(Errc::client_timeout);
    }
  }
  co_return Result<void>{};
}

asio::awaitable<Result<void>> H2ResponseSink::finish() {
  if (finished_) co_return Result<void>{};
  finished_ = true;
  if (!head_sent() || no_body_ || s_.response_complete) co_return Result<void>{};
  if (gone()) co_return make_error_code(Errc::client_closed);
  s_.out_eof = true;
  nghttp2_session_resume_data(s_.link.session, s_.id);
  s_.link.writer.notify();
  co_return Result<void>{};
}

void H2ResponseSink::abort() noexcept {
  if (aborted_) return;
  aborted_ = true;
  // A finished response stays whole: a request body left half-read is
  // stopped by RST_STREAM(NO_ERROR) once END_STREAM is out (h2_session.cpp).
  if (finished_ || s_.closed || !s_.link.session || s_.response_complete) return;
  nghttp2_submit_rst_stream(s_.link.session, NGHTTP2_FLAG_NONE, s_.id, NGHTTP2_INTERNAL_ERROR);
  s_.link.writer.notify();
}

asio::awaitable<Result<void>> H2ResponseSink::write_simple(int status, std::string_view content_type,
                                                           std::string_view body, http::Headers extra) {
  http::ResponseHead head{status, std::string(http::reason_phrase(status)), std::move(extra)};
  head.headers.add("content-type", std::string(content_type));
  if (auto r = co_await write_head(std::move(head), body.size()); !r) co_return r;
  if (auto r = co_await write_body(std::span(body.data(), body.size())); !r) co_return r;
  co_return co_await finish();
}

asio::awaitable<Result<http::ByteStream*>> H2ResponseSink::switch_protocols(http::ResponseHead) {
  // RFC 9113 §8.6: no 101 over HTTP/2.
  co_return make_error_code(Errc::bad_request);
}

}  // namespace relay::server
