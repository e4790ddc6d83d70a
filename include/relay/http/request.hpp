// A parsed client request head. The body is not here: it is streamed by the
// server session on demand, so a request never holds its whole body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/http/headers.hpp"

namespace relay::http {

struct Request {
  std::string method;   // upper-case token as received
  // request-target: as received until the request path normalises it, then
  // the origin-form target forwarded to the origin (cache::forwarded_target)
  std::string target;
  std::string received_target;  // as received, for the access log; set when target is normalised
  std::string_view scheme = "http";  // "https" when it came over TLS
  int version_major = 1;               // 2: an HTTP/2 stream
  int version_minor = 1;
  Headers headers;
  bool keep_alive = true;
  // A body follows the head (Content-Length > 0 or chunked).
  bool has_body = false;
  std::optional<std::uint64_t> content_length;
  // The client's IP for the log and rate limits: the peer, or behind
  // [server] trusted_proxies the address X-Forwarded-For names.
  std::string client_address;
  std::string peer_address;  // the TCP peer; set by the request path ("" before it)
  std::string request_id;
  // The [[routes]] entry serving it (index into Config::routes), set by the
  // request path once the target is normalised.
  std::size_t route = 0;
  // The route label of its metrics, set with `route` once the cache rules
  // are matched: the rule's name, else the route's, else "default". Points
  // into the configuration serving the request.
  std::string_view route_label = "default";
  // relay's own request (cache warming), not a client's: no rate limit,
  // not in relay_requests_total nor in the access log.
  bool background = false;

  bool is_head() const noexcept { return method == "HEAD"; }

  // Back to a request as default-constructed, keeping the buffers its
  // strings and fields grew: a keep-alive connection's next request then
  // allocates nothing for a head that fits them. Every member is here.
  void reset() noexcept {
    method.clear();
    target.clear();
    received_target.clear();
    scheme = "http";
    version_major = 1;
    version_minor = 1;
    headers.clear();
    keep_alive = true;
    has_body = false;
    content_length.reset();
    client_address.clear();
    peer_address.clear();
    request_id.clear();
    route = 0;
    route_label = "default";
    background = false;
  }

  bool operator==(const Request&) const = default;
};

// "HTTP/1.0", "HTTP/1.1" or "HTTP/2": the access log's and the metrics' name for it.
inline std::string_view protocol_label(const Request& req) noexcept {
  if (req.version_major == 2) return "HTTP/2";
  return req.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

// RFC 9110 §9.2.2: methods a client may repeat (and so a proxy may retry).
inline bool is_idempotent(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

}  // namespace relay::http
