// One client connection: read a request, hand it to the handler, repeat
// while keep-alive allows. Rejects bad input with 400/414/431/501 and a
// declared body over the limit with 413 (problem+json, the request id, a
// logged reason and an access log line); idle and slow clients are cut off by the
// watchdog (408).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "relay/config/config.hpp"
#include "relay/http/service.hpp"
#include "relay/server/client_socket.hpp"
#include "relay/util/request_context.hpp"

namespace relay::metrics {
class Metrics;
}

namespace relay::server {

class Watchdog;

// What a session needs from the thread that owns it. The session runs in
// the owner's TaskGroup: its end is the co_spawn completion, and a terminal
// cancel ends it at its next suspension point.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual bool draining() const = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `config`: the snapshot in force when the connection was accepted; its
  // [server] limits and timeouts hold for the whole connection.
  // `context`: the connection's, when it already runs on an executor carrying one.
  Session(ClientSocket socket, std::shared_ptr<const config::Config> config, http::Service& service,
          metrics::Metrics& metrics, SessionHost& host, std::shared_ptr<RequestContext> context = nullptr);
  ~Session();

  // Run it on an executor carrying context(): log lines written while it
  // serves a request then name that request and its client.
  boost::asio::awaitable<void> run();
  std::shared_ptr<const RequestContext> context() const noexcept { return context_; }
  // Graceful shutdown: closes the connection if it is between requests;
  // a tunnel (after a 101) is closed shortly before server.shutdown_grace ends.
  void drain();

 private:
  boost::asio::awaitable<void> serve_requests();
  // After an answer that leaves request bytes unread (a refused body): stop
  // sending, then read and drop what the client still sends, for at most
  // 2 s and 16 MiB, so that closing does not reset the connection before
  // the client has read the answer (nginx's lingering_close).
  boost::asio::awaitable<void> linger();

  ClientSocket socket_;
  std::shared_ptr<const config::Config> config_;
  const config::ServerConfig& cfg_;  // config_->server
  http::Service& service_;
  metrics::Metrics& metrics_;
  SessionHost& host_;
  std::shared_ptr<Watchdog> watchdog_;
  bool idle_ = true;
  bool tunnelling_ = false;  // switched protocols: the socket is a tunnel's
  std::optional<std::chrono::steady_clock::time_point> tunnel_deadline_;  // set by drain()
  std::shared_ptr<RequestContext> context_ = std::make_shared<RequestContext>();
};

}  // namespace relay::server
