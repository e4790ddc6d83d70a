// One accepted client connection before it speaks HTTP: the TLS handshake
// on the TLS listener (bounded by server.tls.handshake_timeout, counted in
// relay_tls_handshakes_total), then the protocol: HTTP/2 when ALPN chose
// h2, or on the cleartext listener with server.h2c when the client opens
// with the HTTP/2 preface (prior knowledge, RFC 9113 §3.3); HTTP/1.1
// otherwise. The chosen session then owns the connection to its end.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "relay/config/config.hpp"
#include "relay/http/service.hpp"
#include "relay/server/client_socket.hpp"
#include "relay/server/session.hpp"
#include "relay/util/request_context.hpp"

namespace relay::metrics {
class Metrics;
}

namespace relay::server {

class TlsContexts;
class H2Session;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `tls`: the contexts of the TLS listener, null on the cleartext one.
  Connection(ClientSocket socket, std::shared_ptr<const config::Config> config, std::shared_ptr<TlsContexts> tls,
             http::Service& service, metrics::Metrics& metrics, SessionHost& host);
  ~Connection();

  // Run it on an executor carrying context().
  boost::asio::awaitable<void> run();
  std::shared_ptr<RequestContext> context() const noexcept { return context_; }
  // Before the protocol is known: the connection closes; after: the session drains.
  void drain();

 private:
  boost::asio::awaitable<bool> handshake();
  // Does the client open with the HTTP/2 connection preface? Peeks, so the
  // session reads every byte itself.
  boost::asio::awaitable<bool> sends_h2_preface();

  ClientSocket socket_;
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<TlsContexts> tls_;
  http::Service& service_;
  metrics::Metrics& metrics_;
  SessionHost& host_;
  std::shared_ptr<RequestContext> context_ = std::make_shared<RequestContext>();
  std::shared_ptr<Session> http1_;
  std::shared_ptr<H2Session> http2_;
  bool draining_ = false;
};

}  // namespace relay::server
