// Response framing and serialization (RFC 9112 §6). Every send is bounded
// by the connection watchdog so a client that stops reading is cut off.
#include "relay/server/response_writer.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>

#include "relay/server/watchdog.hpp"

namespace relay::server {

namespace asio = boost::asio;

namespace {
bool status_has_no_body(int status) { return status < 200 || status == 204 || status == 304; }

void append_number(std::string& out, std::uint64_t n, int base = 10) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n, base);
  out.append(digits, end);
}

// A head is the status line, the fields and a blank line (RFC 9112 §4).
void append_status_line(std::string& out, const http::ResponseHead& head) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::uint64_t>(head.status));
  out.push_back(' ');
  out.append(head.reason.empty() ? http::reason_phrase(head.status) : std::string_view(head.reason));
  out.append("\r\n");
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_head(std::string& out, const http::ResponseHead& head, const http::Headers& fields) {
  append_status_line(out, head);
  for (const auto& f : fields) append_field(out, f.name, f.value);
  out.append("\r\n");
}
}  // namespace

ResponseWriter::ResponseWriter(ClientSocket& socket, Watchdog& watchdog,
                               std::chrono::milliseconds send_timeout, const http::Request& request,
                               bool keep_alive_allowed, std::string& head_buffer)
    : socket_(socket),
      watchdog_(watchdog),
      send_timeout_(send_timeout),
      request_(request),
      keep_alive_(keep_alive_allowed && request.keep_alive),
      head_bytes_(head_buffer) {
  head_bytes_.clear();
}

// Plain code, not in the coroutine: GCC keeps a coroutine's locals in its
// frame, and this loop runs for every field of every response.
void ResponseWriter::serialize_head(const http::ResponseHead& head, std::optional<std::uint64_t> content_length) {
  // The framing fields are this connection's, written here: the head's own
  // are left out as it is serialised (a HEAD keeps its Content-Length).
  append_status_line(head_bytes_, head);
  for (const auto& f : head.headers) {
    if (http::iequals(f.name, "transfer-encoding") || http::iequals(f.name, "connection") ||
        (!no_body_ && http::iequals(f.name, "content-length"))) {
      continue;
    }
    append_field(head_bytes_, f.name, f.value);
  }
  if (!no_body_) {
    if (content_length) {
      head_bytes_.append("Content-Length: ");
      append_number(head_bytes_, *content_length);
      head_bytes_.append("\r\n");
    } else if (request_.version_major == 1 && request_.version_minor >= 1) {
      chunked_ = true;
      head_bytes_.append("Transfer-Encoding: chunked\r\n");
    } else {
      keep_alive_ = false;
    }
  }
  if (!keep_alive_) {
    head_bytes_.append("Connection: close\r\n");
  } else if (request_.version_minor == 0) {
    head_bytes_.append("Connection: keep-alive\r\n");
  }
  head_bytes_.append("\r\n");
}

asio::awaitable<Result<void>> ResponseWriter::write_head(http::ResponseHead head,
                                                         std::optional<std::uint64_t> content_length) {
  head_started_ = true;
  status_ = head.status;
  no_body_ = request_.is_head() || status_has_no_body(head.status);
  head_bytes_.clear();
  head_bytes_.reserve(512);
  serialize_head(head, content_length);
  co_return Result<void>{};
}

asio::awaitable<Result<void>> ResponseWriter::write_interim(const http::ResponseHead& head) {
  // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
  const bool http11 = request_.version_major > 1 || (request_.version_major == 1 && request_.version_minor >= 1);
  if (!http11 || head_started_ || head.status < 102 || head.status > 199) co_return Result<void>{};
  http::Headers fields = head.headers;
  http::strip_hop_by_hop(fields);
  std::string bytes;
  bytes.reserve(256);
  append_head(bytes, head, fields);
  std::array<asio::const_buffer, 1> buffers{asio::buffer(bytes)};
  co_return co_await send(buffers);
}

asio::awaitable<void> ResponseWriter::interim(const http::ResponseHead& head) {
  // A client that is gone shows up again at the final head.
  co_await write_interim(head);
}

bool ResponseWriter::can_switch_protocols() const noexcept {
  const bool http11 = request_.version_major == 1 && request_.version_minor >= 1;
  return take_buffered_ && http11 && !head_started_ && request_.headers.has_token("connection", "upgrade") &&
         request_.headers.contains("upgrade");
}

asio::awaitable<Result<http::ByteStream*>> ResponseWriter::switch_protocols(http::ResponseHead head) {
  if (!can_switch_protocols() || head.status != 101) co_return make_error_code(Errc::bad_request);
  head_started_ = head_flushed_ = true;
  status_ = 101;
  keep_alive_ = false;  // whatever happens next, this connection carries no more HTTP
  head.headers.remove("connection");
  head.headers.remove("transfer-encoding");
  head.headers.remove("content-length");
  head.headers.add("Connection", "Upgrade");
  std::string bytes;
  bytes.reserve(256);
  append_head(bytes, head, head.headers);
  std::array<asio::const_buffer, 1> buffers{asio::buffer(bytes)};
  if (auto sent = co_await send(buffers); !sent) co_return sent.error();
  tunnel_.emplace(socket_, take_buffered_());
  co_return &*tunnel_;
}

asio::awaitable<Result<void>> ResponseWriter::send(std::span<const asio::const_buffer> buffers) {
  watchdog_.expire_after(send_timeout_);
  auto [ec, n] = co_await socket_.write(buffers);
  watchdog_.disarm();
  if (ec) {
    keep_alive_ = false;
    co_return make_error_code(Errc::client_closed);
  }
  co_return Result<void>{};
}

asio::awaitable<Result<void>> ResponseWriter::write_body(std::span<const char> chunk) {
  if (no_body_ || chunk.empty()) co_return Result<void>{};
  body_bytes_ += chunk.size();
  std::array<asio::const_buffer, 4> buffers;
  std::size_t count = 0;
  if (!head_flushed_) {
    buffers[count++] = asio::buffer(head_bytes_);
    head_flushed_ = true;
  }
  char size_line[24];
  if (chunked_) {
    auto [end, ec] = std::to_chars(size_line, size_line + 20, chunk.size(), 16);
    *end++ = '\r';
    *end++ = '\n';
    buffers[count++] = asio::buffer(size_line, static_cast<std::size_t>(end - size_line));
  }
  buffers[count++] = asio::buffer(chunk.data(), chunk.size());
  if (chunked_) buffers[count++] = asio::buffer("\r\n", 2);
  co_return co_await send(std::span(buffers.data(), count));
}

// Chunked framing would need each chunk's size line around the file's bytes.
bool ResponseWriter::sends_files() const noexcept { return !socket_.tls() && !chunked_; }

asio::awaitable<Result<void>> ResponseWriter::write_file(http::FileRegion region) {
  if (no_body_ || region.size == 0) co_return Result<void>{};
  if (chunked_ || socket_.tls()) co_return co_await http::ResponseSink::write_file(region);
  // In slices, each under the send timeout, like write_body's chunks: a
  // large body to a slow reader is cut off only when it stops reading.
  constexpr std::uint64_t slice = 1 << 20;
  while (region.size > 0) {
    asio::const_buffer head;
    if (!head_flushed_) {
      head = asio::buffer(head_bytes_);
      head_flushed_ = true;
    }
    const http::FileRegion part{region.fd, region.offset, std::min(region.size, slice)};
    watchdog_.expire_after(send_timeout_);
    auto [ec, n] = co_await socket_.send_file(head, part);
    watchdog_.disarm();
    body_bytes_ += n > head.size() ? n - head.size() : 0;
    if (ec) {
      keep_alive_ = false;
      co_return make_error_code(Errc::client_closed);
    }
    region.offset += part.size;
    region.size -= part.size;
  }
  co_return Result<void>{};
}

asio::awaitable<Result<void>> ResponseWriter::finish() {
  if (finished_) co_return Result<void>{};
  finished_ = true;
  std::array<asio::const_buffer, 2> buffers;
  std::size_t count = 0;
  if (!head_flushed_) {
    buffers[count++] = asio::buffer(head_bytes_);
    head_flushed_ = true;
  }
  if (chunked_) buffers[count++] = asio::buffer("0\r\n\r\n", 5);
  if (count == 0) co_return Result<void>{};
  co_return co_await send(std::span(buffers.data(), count));
}

asio::awaitable<Result<void>> ResponseWriter::write_simple(int status, std::string_view content_type,
                                                           std::string_view body, http::Headers extra) {
  http::ResponseHead head{status, std::string(http::reason_phrase(status)), std::move(extra)};
  head.headers.add("Content-Type", std::string(content_type));
  co_await write_head(std::move(head), body.size());
  if (auto r = co_await write_body(std::span(body.data(), body.size())); !r) co_return r;
  co_return co_await finish();
}

}  // namespace relay::server
