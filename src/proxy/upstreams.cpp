// Member choice, addressing, retry and reporting for origin requests
// (upstreams.hpp).
#include "relay/proxy/upstreams.hpp"

#include <array>
#include <chrono>

#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

Upstreams::Upstreams(const config::Config& cfg, gateway::Origins& origins,
                     std::span<upstream::CurlMulti* const> multis)
    : origins_(origins) {
  for (std::size_t i = 0; i < cfg.origins.size(); ++i) {
    const auto& pool_cfg = cfg.origins[i];
    Pool pool{i, &pool_cfg, multis[i], {}};
    for (const auto& member : pool_cfg.members) {
      config::UpstreamConfig up = cfg.upstream;
      up.url = config::UpstreamUrl::parse(member.url);
      up.connect_timeout = pool_cfg.connect_timeout;
      up.first_byte_timeout = pool_cfg.first_byte_timeout;
      up.idle_timeout = pool_cfg.idle_timeout;
      up.queue_timeout = pool_cfg.queue_timeout;
      up.preserve_host = pool_cfg.preserve_host;
      up.tls = pool_cfg.tls;
      pool.members.push_back(std::move(up));
    }
    pools_.push_back(std::move(pool));
  }
  for (const auto& route : cfg.routes) {
    std::size_t index = 0;
    for (std::size_t i = 0; i < cfg.origins.size(); ++i)
      if (cfg.origins[i].name == route.origin) index = i;
    route_pool_.push_back(index);
  }
}

void Upstreams::address(upstream::UpstreamRequest& request, const Pool& pool, std::size_t member) const {
  const auto& url = pool.members[member].url;
  request.url = url.base + "/";
  if (request.target.starts_with('/')) request.target.insert(0, url.prefix);
  if (!pool.cfg->host.empty())
    request.headers.set("Host", pool.cfg->host);
  else if (!pool.cfg->preserve_host || !request.headers.contains("host"))
    request.headers.set("Host", url.authority);
}

const config::UpstreamConfig* Upstreams::address_raw(std::size_t route, std::string_view hash_key,
                                                    upstream::UpstreamRequest& request) {
  const auto& pool = pools_[route_pool_[route]];
  const auto member = origins_.pool(pool.index).pick(hash_key, {}, steady::now());
  if (!member) return nullptr;
  address(request, pool, *member);
  return &pool.members[*member];
}

asio::awaitable<Result<std::unique_ptr<upstream::Transfer>>> Upstreams::start(std::size_t route,
                                                                             std::string_view hash_key,
                                                                             upstream::UpstreamRequest request,
                                                                             http::ResponseSink* interim,
                                                                             bool retry_on_connect_failure) {
  const auto& pool = pools_[route_pool_[route]];
  auto& state = origins_.pool(pool.index);
  const bool may_retry = retry_on_connect_failure && pool.cfg->retry && state.size() > 1 && !request.body;
  std::array<std::size_t, 2> tried{};
  std::size_t attempts = 0;
  for (;;) {
    const auto member = state.pick(hash_key, std::span(tried.data(), attempts), steady::now());
    if (!member) co_return make_error_code(Errc::upstream_connect_failed);
    tried[attempts++] = *member;
    // A retry needs the request again; the first attempt takes it when it is the last.
    upstream::UpstreamRequest attempt;
    if (may_retry && attempts < tried.size())
      attempt = request;
    else
      attempt = std::move(request);
    address(attempt, pool, *member);
    gateway::OriginPool::InFlight in_flight(state, *member);
    const auto sent = steady::now();
    auto started =
        co_await upstream::Transfer::start(*pool.multi, pool.members[*member], std::move(attempt), interim);
    const double seconds = std::chrono::duration<double>(steady::now() - sent).count();
    const auto& metrics = origins_.member_metrics(pool.index, *member);
    if (started) {
      const int status = (*started)->head().status;
      metrics.record(status, seconds);
      if (state.report_response(*member, status, steady::now()))
        origins_.note_health(pool.index, *member, false, "passive ejection after " + std::to_string(status) +
                                                             " answers in a row");
      (*started)->keep_alongside(std::make_shared<gateway::OriginPool::InFlight>(std::move(in_flight)));
      co_return started;
    }
    metrics.record(0, seconds);
    const bool connect_failed = started.error() == make_error_code(Errc::upstream_connect_failed);
    if (connect_failed && state.report_connect_failure(*member, steady::now()))
      origins_.note_health(pool.index, *member, false, "passive ejection after connect failures in a row");
    if (!connect_failed || !may_retry || attempts >= tried.size()) co_return started;
    log::info("origin \"", pool.cfg->name, "\" member ", pool.members[*member].url.text,
              " refused the connection; trying another member");
  }
}

}  // namespace relay::proxy
