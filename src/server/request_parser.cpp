// llhttp glue. Callbacks copy the head into the Request (URL and fields may
// arrive split across reads) and record body spans; parsing pauses at the
// end of each message so the next pipelined request waits its turn.
// Limits are enforced while bytes arrive, never after buffering them.
//
// Extension methods: llhttp 8 refuses any method outside its list. Before a
// request reaches llhttp, its method token is read here (http::scan_method);
// a token llhttp does not know is kept aside and llhttp is fed a stand-in
// known method in its place, then the rest of the line from the buffer.
// llhttp frames a request the same whatever its method (Content-Length or
// chunked; only CONNECT is special, and CONNECT is in its list), so the
// stand-in changes nothing but the name, which the callbacks replace.
#include "relay/server/request_parser.hpp"

#include <llhttp.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "relay/http/method_token.hpp"

namespace relay::server {

namespace asio = boost::asio;

struct RequestParser::Impl {
  llhttp_t parser{};
  llhttp_settings_t settings{};
};

namespace {

// The methods llhttp parses in an HTTP/1.x request line, from its own table
// (PRI, the HTTP/2 preface, is left to llhttp, which refuses it here).
#define RELAY_LLHTTP_METHOD_NAME(num, name, string) #string,
constexpr std::array<std::string_view, 34> kLlhttpMethods{HTTP_METHOD_MAP(RELAY_LLHTTP_METHOD_NAME)};
#undef RELAY_LLHTTP_METHOD_NAME

bool llhttp_knows(std::string_view method) {
  return std::find(kLlhttpMethods.begin(), kLlhttpMethods.end(), method) != kLlhttpMethods.end();
}

// What llhttp is told in place of an extension method: an ordinary method
// with no framing rules of its own.
constexpr std::string_view kStandIn = "POST";

}  // namespace

struct RequestParser::Callbacks {
  static RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

  static std::string method_of(llhttp_t* p) {
    const auto& extension = self(p).extension_method_;
    if (!extension.empty()) return extension;
    return llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
  }

  // Method and version as soon as the request line has them, so a request
  // refused later in its head is logged with what it asked for.
  static int on_method_complete(llhttp_t* p) {
    self(p).target_->method = method_of(p);
    return 0;
  }

  static int on_version_complete(llhttp_t* p) {
    auto& req = *self(p).target_;
    req.version_major = llhttp_get_http_major(p);
    req.version_minor = llhttp_get_http_minor(p);
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, std::size_t len) {
    auto& s = self(p);
    s.target_->target.append(at, len);
    if (s.target_->target.size() > s.limits_.max_url_length) {
      s.reject(414, "request-target longer than server.max_url_length");
      return -1;
    }
    return 0;
  }

  static bool count_header_bytes(RequestParser& s, std::size_t len) {
    s.header_bytes_ += len;
    if (s.header_bytes_ <= s.limits_.max_header_size) return true;
    s.reject(431, "request header fields larger than server.max_header_size");
    return false;
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t len) {
    auto& s = self(p);
    if (!count_header_bytes(s, len)) return -1;
    if (s.in_value_) {
      s.target_->headers.add_copy(s.field_, s.value_);  // copied: both sides keep their buffers
      s.field_.clear();
      s.value_.clear();
      s.in_value_ = false;
    }
    s.field_.append(at, len);
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t len) {
    auto& s = self(p);
    if (!count_header_bytes(s, len)) return -1;
    s.in_value_ = true;
    s.value_.append(at, len);
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    auto& s = self(p);
    auto& req = *s.target_;
    if (!s.field_.empty()) req.headers.add_copy(s.field_, http::trim(s.value_));
    s.field_.clear();
    s.value_.clear();
    s.in_value_ = false;
    req.method = method_of(p);
    req.version_major = llhttp_get_http_major(p);
    req.version_minor = llhttp_get_http_minor(p);
    req.keep_alive = llhttp_should_keep_alive(p) != 0;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    if (p->flags & F_CONTENT_LENGTH) req.content_length = p->content_length;
    req.has_body = chunked || (req.content_length && *req.content_length > 0);
    s.expect_continue_ = req.has_body && req.version_minor >= 1 &&
                         req.headers.has_token("expect", "100-continue");
    s.head_done_ = true;
    return 0;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t len) {
    self(p).body_spans_.emplace_back(at, len);
    return 0;
  }

  static int on_message_complete(llhttp_t* p) {
    self(p).message_done_ = true;
    return HPE_PAUSED;
  }
};

RequestParser::RequestParser(ClientSocket& socket, ParserLimits limits)
    : socket_(socket), limits_(limits), impl_(std::make_unique<Impl>()), buffer_(16 * 1024) {
  auto& st = impl_->settings;
  llhttp_settings_init(&st);
  st.on_method_complete = &Callbacks::on_method_complete;
  st.on_version_complete = &Callbacks::on_version_complete;
  st.on_url = &Callbacks::on_url;
  st.on_header_field = &Callbacks::on_header_field;
  st.on_header_value = &Callbacks::on_header_value;
  st.on_headers_complete = &Callbacks::on_headers_complete;
  st.on_body = &Callbacks::on_body;
  st.on_message_complete = &Callbacks::on_message_complete;
  llhttp_init(&impl_->parser, HTTP_REQUEST, &st);
  impl_->parser.data = this;
}

RequestParser::~RequestParser() = default;

void RequestParser::reject(int status, std::string reason) {
  reject_status_ = status;
  reject_reason_ = std::move(reason);
}

void RequestParser::keep_pending_field() {
  if (!head_done_ && in_value_ && !field_.empty())
    target_->headers.add_copy(field_, http::trim(value_));
  field_.clear();
  value_.clear();
  in_value_ = false;
}

void RequestParser::reset_message() {
  target_->reset();
  field_.clear();
  value_.clear();
  in_value_ = false;
  header_bytes_ = 0;
  head_done_ = false;
  message_done_ = false;
  expect_continue_ = false;
  body_spans_.clear();
  next_span_ = 0;
  method_settled_ = false;
  extension_method_.clear();
}

bool RequestParser::settle_method() {
  const auto scan = http::scan_method(std::string_view(buffer_.data() + parsed_, filled_ - parsed_));
  parsed_ += scan.skip;  // blank lines between requests: nothing for llhttp
  using Kind = http::MethodScan::Kind;
  switch (scan.kind) {
    case Kind::NeedMore:
      return true;
    case Kind::TooLong: {
      std::string reason = "request method longer than ";
      reason.append(std::to_string(http::kMaxMethodLength)).append(" bytes");
      reject(501, std::move(reason));
      return false;
    }
    case Kind::NotToken:  // llhttp says what is wrong with the line
      break;
    case Kind::Token:
      if (llhttp_knows(scan.token)) break;
      if (llhttp_execute(&impl_->parser, kStandIn.data(), kStandIn.size()) != HPE_OK) {
        reject(400, "malformed request: the parser refused the stand-in method");
        return false;
      }
      extension_method_.assign(scan.token);
      parsed_ += scan.token.size();
      break;
  }
  method_settled_ = true;
  return true;
}

bool RequestParser::execute() {
  const char* begin = buffer_.data() + parsed_;
  auto err = llhttp_execute(&impl_->parser, begin, filled_ - parsed_);
  if (err == HPE_OK) {
    parsed_ = filled_;
    return true;
  }
  if (err == HPE_PAUSED) {
    parsed_ = static_cast<std::size_t>(llhttp_get_error_pos(&impl_->parser) - buffer_.data());
    llhttp_resume(&impl_->parser);
    return true;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    // The previous request asked to switch protocols and was answered
    // without a switch (RFC 9110 §7.8: the connection stays HTTP/1.1), or a
    // switch was never on offer: what follows is parsed as the next request.
    parsed_ = static_cast<std::size_t>(llhttp_get_error_pos(&impl_->parser) - buffer_.data());
    llhttp_resume_after_upgrade(&impl_->parser);
    return true;
  }
  if (reject_reason_.empty()) {
    reject(400, std::string("malformed request: ") + llhttp_errno_name(err) + " (" +
                    llhttp_get_error_reason(&impl_->parser) + ")");
  }
  keep_pending_field();
  return false;
}

std::string RequestParser::take_buffered() {
  std::string rest(buffer_.data() + parsed_, filled_ - parsed_);
  parsed_ = filled_;
  return rest;
}

asio::awaitable<error_code> RequestParser::fill() {
  // Body spans point into the buffer: it moves only once they are consumed.
  if (next_span_ >= body_spans_.size()) {
    body_spans_.clear();
    next_span_ = 0;
    if (parsed_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + parsed_, filled_ - parsed_);
      filled_ -= parsed_;
      parsed_ = 0;
    }
  }
  auto room = asio::buffer(buffer_.data() + filled_, buffer_.size() - filled_);
  auto [ec, n] = co_await socket_.read_some(room);
  filled_ += n;
  co_return ec;
}

asio::awaitable<HeadOutcome> RequestParser::read_head(http::Request& out) {
  target_ = &out;
  reset_message();
  started_ = parsed_ < filled_;
  if (started_ && on_message_start) on_message_start();
  for (;;) {
    if (parsed_ < filled_ && !method_settled_ && !settle_method()) {
      keep_pending_field();
      co_return HeadOutcome::Rejected;
    }
    if (parsed_ < filled_ && method_settled_) {
      if (!execute()) co_return HeadOutcome::Rejected;
      if (head_done_) co_return HeadOutcome::Ok;
      if (parsed_ < filled_) continue;
    }
    if (auto ec = co_await fill()) {
      keep_pending_field();
      co_return started_ ? HeadOutcome::Incomplete : HeadOutcome::Closed;
    }
    if (!started_ && on_message_start) on_message_start();
    started_ = true;
  }
}

asio::awaitable<Result<std::span<const char>>> RequestParser::read_body() {
  for (;;) {
    if (next_span_ < body_spans_.size()) co_return body_spans_[next_span_++];
    if (message_done_) co_return std::span<const char>{};
    if (expect_continue_) {
      static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
      expect_continue_ = false;
      auto [ec, n] = co_await socket_.write(asio::buffer(interim));
      if (ec) co_return make_error_code(Errc::client_closed);
    }
    if (parsed_ < filled_) {
      if (!execute()) co_return make_error_code(Errc::bad_request);
      continue;
    }
    if (auto ec = co_await fill()) co_return make_error_code(Errc::client_closed);
  }
}

}  // namespace relay::server
