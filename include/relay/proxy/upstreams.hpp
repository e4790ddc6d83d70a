// The request path's door to the origin pools, for one configuration
// generation on one event loop: which pool a route uses, which member a
// request goes to (gateway::OriginPool decides), the URL, target prefix and
// Host that member needs, and the one retry an idempotent request gets when
// its connect fails. Every exchange is reported to the pool (passive
// ejection) and to the member's metrics.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/gateway/origins.hpp"
#include "relay/http/response.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "relay/upstream/transfer.hpp"
#include "relay/util/result.hpp"

namespace relay::proxy {

class Upstreams {
 public:
  // multis: this loop's curl multi handle for each pool, in Config::origins order.
  Upstreams(const config::Config& cfg, gateway::Origins& origins, std::span<upstream::CurlMulti* const> multis);

  // Sends `request` (method, target, headers and body set; url and Host are
  // filled in here) to a member of `route`'s pool. `hash_key` places the
  // request for consistent hashing. `retry_on_connect_failure`: the request
  // has no body and an idempotent method, so a refused connect may move on.
  boost::asio::awaitable<Result<std::unique_ptr<upstream::Transfer>>> start(std::size_t route,
                                                                           std::string_view hash_key,
                                                                           upstream::UpstreamRequest request,
                                                                           http::ResponseSink* interim,
                                                                           bool retry_on_connect_failure);

  // For a connection of relay's own (an upgrade's tunnel): picks a member of
  // the route's pool, addresses `request` for it and returns its settings
  // (URL, timeouts, TLS); null when the pool has no member to offer.
  const config::UpstreamConfig* address_raw(std::size_t route, std::string_view hash_key,
                                            upstream::UpstreamRequest& request);

  // The pool a route sends to, for its timeouts (e.g. following a fill).
  const config::OriginPool& pool_of(std::size_t route) const { return *pools_[route_pool_[route]].cfg; }

 private:
  struct Pool {
    std::size_t index;  // in Origins and Config::origins
    const config::OriginPool* cfg;
    upstream::CurlMulti* multi;
    std::vector<config::UpstreamConfig> members;  // per member: its URL and the pool's timeouts
  };
  void address(upstream::UpstreamRequest& request, const Pool& pool, std::size_t member) const;

  gateway::Origins& origins_;
  std::vector<Pool> pools_;
  std::vector<std::size_t> route_pool_;  // route index -> pools_ index
};

}  // namespace relay::proxy
