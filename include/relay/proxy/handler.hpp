// The request path: one coroutine per request that decides between the
// cache and the origin. One Handler per event-loop thread (it owns that
// loop's curl multi); storage, metrics and the access log are shared.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "relay/cache/freshness.hpp"
#include "relay/cache/status.hpp"
#include "relay/config/config.hpp"
#include "relay/http/request.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/access_log.hpp"
#include "relay/server/response_writer.hpp"
#include "relay/storage/storage.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "relay/upstream/transfer.hpp"

namespace relay::proxy {

struct Shared {
  const config::Config& config;
  std::shared_ptr<storage::Storage> storage;
  metrics::Metrics& metrics;
  AccessLog& access_log;
};

class Handler {
 public:
  Handler(Shared shared, upstream::CurlMulti& multi);

  // Answers one request completely (or leaves out.keep_alive() false when
  // the connection cannot carry another request), then logs it.
  boost::asio::awaitable<void> serve(http::Request& req, upstream::RequestBodySource& body,
                                     server::ResponseWriter& out);

 private:
  struct Outcome {
    cache::CacheStatus cache = cache::CacheStatus::Bypass;
    double upstream_seconds = -1;
  };

  boost::asio::awaitable<Outcome> route(http::Request& req, upstream::RequestBodySource& body,
                                        server::ResponseWriter& out);
  boost::asio::awaitable<Outcome> deliver(const http::Request& req, storage::Hit hit,
                                          server::ResponseWriter& out, cache::Seconds age);
  boost::asio::awaitable<Outcome> forward(const http::Request& req, upstream::RequestBodySource& body,
                                          server::ResponseWriter& out, const std::string* key);
  boost::asio::awaitable<void> respond_upstream_error(const http::Request& req, const error_code& error,
                                                      cache::CacheStatus status, server::ResponseWriter& out);
  boost::asio::awaitable<void> serve_metrics(const http::Request& req, server::ResponseWriter& out);

  upstream::UpstreamRequest upstream_request(const http::Request& req, upstream::RequestBodySource& body) const;
  void add_response_fields(http::Headers& headers, const http::Request& req, cache::CacheStatus status) const;

  Shared shared_;
  const config::Config& cfg_;
  upstream::CurlMulti& multi_;
  cache::Policy policy_;
  std::string upstream_base_;    // scheme://authority of the origin
  std::string upstream_host_;    // authority, for Host when not preserving the client's
  std::string upstream_prefix_;  // path of upstream.url without a trailing '/', or empty
};

// The client's X-Request-ID when it is sane, else a fresh random one.
std::string request_id_for(const http::Request& req);

}  // namespace relay::proxy
