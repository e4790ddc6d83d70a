// What a worker's client sessions call: the proxy::Handler built for the
// newest configuration. A Handler is made for one configuration snapshot
// (its cfg_ and what it derives from it: origin base and Host, rules,
// status name), so a request keeps the one it started with from its first
// line to its access log line, and a reload is one pointer swap for the
// requests that start afterwards. A replaced Handler lives on until its
// last request and its background revalidations have ended.
// Invariant: used from its worker's loop thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "relay/http/service.hpp"
#include "relay/proxy/handler.hpp"

namespace relay::server {

class ProxyService final : public http::Service {
 public:
  // multis: this loop's curl multi handle per origin pool (Config::origins order).
  ProxyService(proxy::Shared shared, std::vector<upstream::CurlMulti*> multis);

  // A reload: requests from now on go to a Handler for `config`.
  void use(std::shared_ptr<const config::Config> config);

  boost::asio::awaitable<void> serve(http::Request& req, http::BodySource& body, http::ResponseSink& out) override;
  void log_refused(http::Request& req, int status, std::uint64_t bytes, double seconds) override;
  std::uint64_t body_limit_for(const http::Request& req) const override;

  // Background revalidations of every Handler still alive.
  std::size_t background_tasks() const noexcept;
  void cancel_background();
  // Called on the loop when the last background task of any Handler ends.
  std::function<void()> on_background_idle;

 private:
  std::shared_ptr<proxy::Handler> make(std::shared_ptr<const config::Config> config);
  // Drops replaced Handlers nobody uses any more; posted, never from inside
  // one of their own completions.
  void prune();

  proxy::Shared shared_;
  std::vector<upstream::CurlMulti*> multis_;
  std::shared_ptr<proxy::Handler> current_;
  std::vector<std::shared_ptr<proxy::Handler>> retired_;
  bool cancelled_ = false;
};

}  // namespace relay::server
