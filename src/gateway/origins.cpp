// The process's origin pools and their active health checks (origins.hpp).
// One coroutine per checked member: wait interval (+ jitter), GET the
// check path with the check's timeout, report; a change of health is
// logged once and shown in relay_upstream_health. A second coroutine
// refreshes the gauges every second, so a passive ejection that ran out
// shows as healthy again without traffic.
#include "relay/gateway/origins.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "relay/upstream/curl_multi.hpp"
#include "relay/upstream/transfer.hpp"
#include "relay/util/error_table.hpp"
#include "relay/util/log.hpp"

namespace relay::gateway {

namespace asio = boost::asio;

struct Origins::Checks {
  asio::io_context io{1};
  config::UpstreamConfig limits;  // the check multi's queue timeout
  std::unique_ptr<upstream::CurlMulti> multi;
  std::vector<std::unique_ptr<config::UpstreamConfig>> member_cfgs;  // per checked member: its timeouts
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  bool stopping = false;
  std::thread thread;
};

namespace {

struct CheckResult {
  bool ok = false;
  std::string why;  // for the log line when health changes
};

bool expected(const config::HealthCheck& hc, int status) {
  return hc.expected_status ? status == hc.expected_status : status >= 200 && status < 400;
}

asio::awaitable<CheckResult> check_once(upstream::CurlMulti& multi, const config::UpstreamConfig& member,
                                        const config::OriginPool& pool) {
  const auto& hc = pool.health_check;
  upstream::UpstreamRequest request;
  request.method = "GET";
  request.url = member.url.base + "/";
  request.target = member.url.prefix + hc.path;
  request.headers.set("Host", !hc.host.empty() ? hc.host : !pool.host.empty() ? pool.host : member.url.authority);
  request.headers.set("User-Agent", "relay-health-check");
  auto started = co_await upstream::Transfer::start(multi, member, std::move(request));
  if (!started) {
    const auto& detail = started.error().message();
    co_return CheckResult{false, std::string("health check failed: ").append(detail)};
  }
  const int status = (*started)->head().status;
  // Read a little of the body so a keep-alive connection can be reused; a
  // large one is cut (destroying the transfer aborts it).
  std::size_t drained = 0;
  while (drained < 64 * 1024) {
    auto chunk = co_await (*started)->read();
    if (!chunk || chunk->empty()) break;
    drained += chunk->size();
  }
  if (!expected(hc, status)) co_return CheckResult{false, "health check answered " + std::to_string(status)};
  co_return CheckResult{true, "health check answered " + std::to_string(status)};
}

}  // namespace

Origins::Origins(const config::Config& cfg, prometheus::Registry& registry) {
  metrics::OriginMetrics family(registry);
  for (const auto& pool_cfg : cfg.origins) {
    Pool pool{std::make_unique<OriginPool>(pool_cfg), pool_cfg, {}};
    for (std::size_t m = 0; m < pool.state->size(); ++m)
      pool.metrics.push_back(family.member(pool_cfg.name, pool.state->url(m).text));
    pools_.push_back(std::move(pool));
  }
}

Origins::~Origins() { stop(); }

std::optional<std::size_t> Origins::find(std::string_view name) const {
  for (std::size_t i = 0; i < pools_.size(); ++i)
    if (pools_[i].cfg.name == name) return i;
  return std::nullopt;
}

void Origins::note_health(std::size_t pool, std::size_t member, bool up, std::string_view why) {
  const auto& p = pools_[pool];
  p.metrics[member].set_health(up);
  if (up)
    log::info("origin \"", p.cfg.name, "\" member ", p.state->url(member).text, " is up again (", why, ")");
  else
    log::warn("origin \"", p.cfg.name, "\" member ", p.state->url(member).text, " is down (", why, ")");
}

void Origins::start() {
  if (checks_) return;
  checks_ = std::make_unique<Checks>();
  auto& c = *checks_;
  c.multi = std::make_unique<upstream::CurlMulti>(c.io, c.limits, 64);
  for (std::size_t p = 0; p < pools_.size(); ++p) {
    const auto& hc = pools_[p].cfg.health_check;
    if (!hc.enabled()) continue;
    for (std::size_t m = 0; m < pools_[p].state->size(); ++m) {
      auto member = std::make_unique<config::UpstreamConfig>();
      member->url = pools_[p].state->url(m);
      member->connect_timeout = member->first_byte_timeout = member->idle_timeout = hc.timeout;
      member->tls = pools_[p].cfg.tls;
      const auto* member_cfg = member.get();
      c.member_cfgs.push_back(std::move(member));
      auto* timer = c.timers.emplace_back(std::make_unique<asio::steady_timer>(c.io)).get();
      auto loop = [](Origins& self, Checks& c, std::size_t p, std::size_t m, const config::UpstreamConfig& member,
                     asio::steady_timer& timer) -> asio::awaitable<void> {
        const auto& pool = self.pools_[p];
        const auto& hc = pool.cfg.health_check;
        std::mt19937_64 rng{std::random_device{}()};
        const auto jitter = std::max<std::int64_t>(0, hc.effective_jitter().count());
        // The first check comes at once (within the jitter): a member that
        // is down at start is found before the first interval ends.
        auto wait = std::chrono::milliseconds(jitter ? static_cast<std::int64_t>(rng() % (jitter + 1)) : 0);
        for (;;) {
          timer.expires_after(wait);
          co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
          if (c.stopping) co_return;
          auto result = co_await check_once(*c.multi, member, pool.cfg);
          if (c.stopping) co_return;
          if (auto changed = pool.state->report_check(m, result.ok)) self.note_health(p, m, *changed, result.why);
          wait = hc.interval + std::chrono::milliseconds(jitter ? static_cast<std::int64_t>(rng() % (jitter + 1)) : 0);
        }
      };
      asio::co_spawn(c.io, loop(*this, c, p, m, *member_cfg, *timer), asio::detached);
    }
  }
  auto* refresh = c.timers.emplace_back(std::make_unique<asio::steady_timer>(c.io)).get();
  asio::co_spawn(
      c.io,
      [](Origins& self, Checks& c, asio::steady_timer& timer) -> asio::awaitable<void> {
        while (!c.stopping) {
          const auto now = Clock::now();
          for (const auto& pool : self.pools_)
            for (std::size_t m = 0; m < pool.state->size(); ++m) pool.metrics[m].set_health(pool.state->healthy(m, now));
          timer.expires_after(std::chrono::seconds(1));
          co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
      }(*this, c, *refresh),
      asio::detached);
  c.thread = std::thread([&c] {
    try {
      c.io.run();
    } catch (const std::exception& e) {
      log::error("health checks stopped: ", e.what());
    }
  });
}

void Origins::stop() {
  if (!checks_) return;
  auto& c = *checks_;
  asio::post(c.io, [&c] {
    c.stopping = true;
    for (auto& timer : c.timers) timer->cancel();
  });
  if (c.thread.joinable()) c.thread.join();
  checks_.reset();
}

}  // namespace relay::gateway
