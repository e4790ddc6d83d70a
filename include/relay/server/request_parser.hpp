// Reads requests off a client connection with llhttp: read_head() yields a
// request head, read_body() its body chunk by chunk (zero-copy spans into
// the read buffer). Parsing stops at the end of each message, so pipelined
// requests are taken one at a time, in order.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "relay/http/request.hpp"
#include "relay/server/client_socket.hpp"
#include "relay/util/result.hpp"

namespace relay::server {

struct ParserLimits {
  std::size_t max_header_size = 16 * 1024;
  std::size_t max_url_length = 8 * 1024;
};

enum class HeadOutcome {
  Ok,
  Closed,      // the peer closed (or timed out) before a new request began
  Incomplete,  // the peer went away mid-head: nothing to answer
  Rejected,    // malformed or over a limit: answer reject_status, then close
};

class RequestParser {
 public:
  RequestParser(ClientSocket& socket, ParserLimits limits);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  boost::asio::awaitable<HeadOutcome> read_head(http::Request& out);
  // Next body chunk of the current request; empty = the body is complete.
  boost::asio::awaitable<Result<std::span<const char>>> read_body();

  bool message_complete() const noexcept { return message_done_; }
  // The bytes read past the current message (pipelined requests, or a new
  // protocol's first bytes after an upgrade request); the parser forgets
  // them. For a connection leaving HTTP: no request is read after this.
  std::string take_buffered();
  // True once any byte of the next request has arrived (switch to the header timeout).
  bool started() const noexcept { return started_; }
  int reject_status() const noexcept { return reject_status_; }
  const std::string& reject_reason() const noexcept { return reject_reason_; }
  // Called when the first byte of a request is seen (arms the header timeout).
  std::function<void()> on_message_start;

 private:
  struct Callbacks;
  // Parses buffered bytes; false on a parse error (reject_* set).
  bool execute();
  boost::asio::awaitable<error_code> fill();
  void reset_message();
  // A head cut short (refused, timed out) keeps its last complete field, for the access log.
  void keep_pending_field();
  void reject(int status, std::string reason);
  // Reads the method token of a new request ahead of llhttp (extension
  // methods, request_parser.cpp); false when the request is refused.
  // method_settled_ stays false while the token is still incomplete.
  bool settle_method();

  ClientSocket& socket_;
  ParserLimits limits_;
  struct Impl;
  std::unique_ptr<Impl> impl_;

  std::vector<char> buffer_;
  std::size_t parsed_ = 0;  // bytes of buffer_ handed to llhttp
  std::size_t filled_ = 0;  // bytes of buffer_ holding data

  // Message under construction.
  http::Request* target_ = nullptr;
  std::string field_;
  std::string value_;
  bool in_value_ = false;
  std::size_t header_bytes_ = 0;
  bool head_done_ = false;
  bool message_done_ = true;
  bool started_ = false;
  bool expect_continue_ = false;
  bool method_settled_ = false;
  std::string extension_method_;  // a method llhttp does not know, as received
  std::vector<std::span<const char>> body_spans_;
  std::size_t next_span_ = 0;

  int reject_status_ = 400;
  std::string reject_reason_;
};

}  // namespace relay::server
