// What a listener's sessions hand each request to: the proxy's request path
// (proxy::Handler) on the client listener, relay's own API
// (admin::AdminService) on the admin and metrics listeners.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>

#include "relay/http/body.hpp"
#include "relay/http/request.hpp"

namespace relay::http {

class Service {
 public:
  virtual ~Service() = default;
  // Answers one request completely, or leaves the sink aborted when the
  // connection cannot carry another request.
  virtual boost::asio::awaitable<void> serve(Request& req, BodySource& body, ResponseSink& out) = 0;
  // A request the session refused before serve() (400, 408, 413, 414, 431, 501):
  // the proxy writes its access log line; relay's own API keeps none.
  virtual void log_refused(Request& /*req*/, int /*status*/, std::uint64_t /*bytes*/, double /*seconds*/) {}
  // The largest body this request may carry, in bytes (0 = no limit). The
  // session asks once the head is parsed, before any 100 Continue: a larger
  // Content-Length is answered 413 at once, a chunked body is cut when it
  // grows past it.
  virtual std::uint64_t body_limit_for(const Request& /*req*/) const { return 0; }
};

}  // namespace relay::http
