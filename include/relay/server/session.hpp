// One client connection: read a request, hand it to the handler, repeat
// while keep-alive allows. Rejects bad input with 400/414/431 and a logged
// reason; idle and slow clients are cut off by the watchdog.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "relay/config/config.hpp"

namespace relay::proxy {
class Handler;
}
namespace relay::metrics {
class Metrics;
}

namespace relay::server {

class Watchdog;

// What a session needs from the thread that owns it.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual bool draining() const = 0;
  virtual void session_ended(class Session* session) = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, const config::ServerConfig& cfg, proxy::Handler& handler,
          metrics::Metrics& metrics, SessionHost& host);
  ~Session();

  boost::asio::awaitable<void> run();
  // Closes the connection if it is between requests (graceful shutdown).
  void close_if_idle();

 private:
  boost::asio::awaitable<void> serve_requests();

  boost::asio::ip::tcp::socket socket_;
  const config::ServerConfig& cfg_;
  proxy::Handler& handler_;
  metrics::Metrics& metrics_;
  SessionHost& host_;
  std::shared_ptr<Watchdog> watchdog_;
  bool idle_ = true;
};

}  // namespace relay::server
