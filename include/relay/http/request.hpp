// A parsed client request head. The body is not here: it is streamed by the
// server session on demand, so a request never holds its whole body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "relay/http/headers.hpp"

namespace relay::http {

struct Request {
  std::string method;   // upper-case token as received
  // request-target: as received until the request path normalises it, then
  // the origin-form target forwarded to the origin (cache::forwarded_target)
  std::string target;
  std::string received_target;  // as received, for the access log; set when target is normalised
  int version_major = 1;
  int version_minor = 1;
  Headers headers;
  bool keep_alive = true;
  // A body follows the head (Content-Length > 0 or chunked).
  bool has_body = false;
  std::optional<std::uint64_t> content_length;
  std::string client_address;  // peer IP, for X-Forwarded-For and the log
  std::string request_id;

  bool is_head() const noexcept { return method == "HEAD"; }
};

}  // namespace relay::http
