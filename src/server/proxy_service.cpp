// ProxyService (proxy_service.hpp): Handler generations on one loop.
#include "proxy_service.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace relay::server {

ProxyService::ProxyService(proxy::Shared shared, std::vector<upstream::CurlMulti*> multis)
    : shared_(std::move(shared)), multis_(std::move(multis)), current_(make(shared_.config)) {}

std::shared_ptr<proxy::Handler> ProxyService::make(std::shared_ptr<const config::Config> config) {
  auto shared = shared_;
  shared.config = std::move(config);
  auto handler = std::make_shared<proxy::Handler>(std::move(shared), multis_);
  handler->on_background_idle = [this] {
    // Inside the task group's completion: the Handler may not go yet.
    boost::asio::post(multis_.front()->io(), [this] {
      prune();
      if (background_tasks() == 0 && on_background_idle) on_background_idle();
    });
  };
  return handler;
}

void ProxyService::use(std::shared_ptr<const config::Config> config) {
  auto next = make(std::move(config));
  // Shutdown already cut the running ones: the new one must not start any.
  if (cancelled_) next->cancel_background();
  retired_.push_back(std::exchange(current_, std::move(next)));
  prune();
}

boost::asio::awaitable<void> ProxyService::serve(http::Request& req, http::BodySource& body,
                                                 http::ResponseSink& out) {
  auto handler = current_;  // this request's configuration, to its end
  co_await handler->serve(req, body, out);
  handler.reset();
  if (!retired_.empty()) prune();
}

void ProxyService::log_refused(http::Request& req, int status, std::uint64_t bytes, double seconds) {
  current_->log_refused(req, status, bytes, seconds);
}

std::uint64_t ProxyService::body_limit_for(const http::Request& req) const {
  return current_->body_limit_for(req);
}

std::size_t ProxyService::background_tasks() const noexcept {
  std::size_t n = current_->background_tasks();
  for (const auto& h : retired_) n += h->background_tasks();
  return n;
}

void ProxyService::cancel_background() {
  cancelled_ = true;
  current_->cancel_background();
  for (const auto& h : retired_) h->cancel_background();
}

void ProxyService::prune() {
  std::erase_if(retired_, [](const auto& h) { return h.use_count() == 1 && h->background_tasks() == 0; });
}

}  // namespace relay::server
