// A listener of relay's own (admin API, a metrics address) on one of the
// worker event loops: it accepts connections and runs a Session per
// connection for its Service. It keeps answering while the client listener
// drains; close() ends it (stop accepting, close idle connections, cut the
// rest). Invariant: every call but the constructor runs on the loop's thread.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "relay/config/config.hpp"
#include "relay/http/service.hpp"
#include "relay/server/session.hpp"
#include "relay/util/task_group.hpp"

namespace relay::metrics {
class Metrics;
}

namespace relay::server {

class Listener final : public SessionHost {
 public:
  // `key` names the config key in messages ("admin.listen").
  Listener(boost::asio::io_context& io, std::string key, std::shared_ptr<const config::Config> cfg,
           http::Service& service, metrics::Metrics& metrics);
  ~Listener() override;

  // Throws std::runtime_error naming the key when the address cannot be bound.
  void listen(const config::ListenAddress& address);
  void start();
  void close();
  bool closed() const noexcept { return !accepting_ && sessions_.empty(); }
  bool draining() const override { return closing_; }
  // Runs once closed() has become true after close().
  std::function<void()> on_closed;

 private:
  boost::asio::awaitable<void> accept_loop();
  void check_closed();

  boost::asio::io_context& io_;
  std::string key_;
  std::shared_ptr<const config::Config> cfg_;  // [server] limits for its sessions
  http::Service& service_;
  metrics::Metrics& metrics_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::cancellation_signal accept_cancel_;
  TaskGroup sessions_;
  bool accepting_ = false;
  bool closing_ = false;
};

}  // namespace relay::server
