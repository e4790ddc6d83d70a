// Threads, listeners, reloads and the workers' part of shutdown. Each
// worker thread runs its own io_context with its own acceptor (a descriptor
// of the one listening socket: whichever loop is free takes a connection),
// curl multi and handler, so a request never crosses threads. A reload
// reaches each worker as a post to its loop (Worker::apply). Sessions live in a
// TaskGroup: a drain closes the idle ones, a cancel cuts the rest (the
// signals and the grace: supervisor.cpp).
#include "relay/server/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <cassert>
#include <functional>
#include <thread>

#include <unistd.h>

#include "relay/admin/admin_server.hpp"
#include "relay/admin/health.hpp"
#include "relay/gateway/fleet_buckets.hpp"
#include "relay/gateway/rate_limiter.hpp"
#include "relay/maintenance/scheduler.hpp"
#include "relay/metrics/instrumented_storage.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/access_log.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/spool.hpp"
#include "relay/purge/purger.hpp"
#include "relay/server/reload.hpp"
#include "relay/server/systemd.hpp"
#include "relay/server/connection.hpp"
#include "relay/server/accept_backoff.hpp"
#include "relay/server/session.hpp"
#include "relay/server/tls_contexts.hpp"
#include "relay/server/supervisor.hpp"
#include "relay/storage/make_storage.hpp"
#include "relay/storage/purge_bus.hpp"
#include "relay/gateway/origins.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "relay/util/log.hpp"
#include "relay/util/task_group.hpp"
#include "relay/warm/warmer.hpp"
#include "proxy_service.hpp"

namespace relay::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// server.listen arrives checked: address is an IP literal.
tcp::endpoint listen_endpoint(const config::ListenAddress& listen) {
  return {asio::ip::make_address(listen.address), listen.port};
}

// Invariant: everything below runs on io_, except begin_drain() and
// cancel(), which post to it. The loop stops once the drain has begun and
// the accept loop, every session and every background task have ended.
class Worker final : public SessionHost, public Drainable {
 public:
  // origin_connections: this loop's share of each pool's max_connections.
  Worker(proxy::Shared shared, std::shared_ptr<TlsContexts> tls, std::size_t max_sessions,
         const std::vector<std::size_t>& origin_connections)
      : config_(shared.config),
        tls_(std::move(tls)),
        multis_(make_multis(io_, *config_, origin_connections)),
        service_(shared, raw(multis_)),
        metrics_(shared.metrics),
        acceptor_(io_),
        tls_acceptor_(io_),
        max_sessions_(max_sessions) {
    service_.on_background_idle = [this] { stop_if_drained(); };
    sessions_.on_empty = [this] { stop_if_drained(); };
    for (auto& multi : multis_) {
      multi->on_queue_enter = [this] { metrics_.record_upstream_queue(true); };
      multi->on_queue_leave = [this](bool) { metrics_.record_upstream_queue(false); };
    }
  }

  // The process's one listening socket. No SO_REUSEPORT: with it, a second
  // relay started on the same port would bind too and the kernel would split
  // the connections between the two processes. Without it the bind fails
  // with EADDRINUSE whatever the thread count, and no window exists between
  // a check and the bind, as a probe socket released before binding
  // SO_REUSEPORT ones would leave.
  void listen(const tcp::endpoint& endpoint) { open_listener(acceptor_, endpoint); }
  // [server.tls] listen: a second listening socket whose connections start with a TLS handshake.
  void listen_tls(const tcp::endpoint& endpoint) { open_listener(tls_acceptor_, endpoint); }

  // Every other loop accepts on a dup() of the first loop's socket: one
  // queue, taken from by whichever loop is free (each loop's own epoll
  // watches the same socket; one accept wins, the others see EAGAIN). The
  // socket stops listening once every loop has closed its descriptor.
  void share_listener(Worker& first) {
    share(acceptor_, first.acceptor_);
    if (first.tls_acceptor_.is_open()) share(tls_acceptor_, first.tls_acceptor_);
  }

  void run() {
    spawn_accept_loop(acceptor_, false, accept_cancel_);
    if (tls_acceptor_.is_open()) spawn_accept_loop(tls_acceptor_, true, tls_accept_cancel_);
    io_.run();
  }

  // Graceful: stop accepting, close idle connections, let requests finish.
  void begin_drain() override {
    asio::post(io_, [this] {
      draining_ = true;
      accept_cancel_.emit(asio::cancellation_type::terminal);
      tls_accept_cancel_.emit(asio::cancellation_type::terminal);
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      tls_acceptor_.close(ignored);
      sessions_.drain();
      if (warmer_) warmer_->cancel();
      stop_if_drained();
    });
  }

  // Terminal: whatever is still running is cut.
  void cancel() override {
    asio::post(io_, [this] {
      assert(draining_);
      sessions_.cancel();
      service_.cancel_background();
    });
  }

  // A reload, from any thread: connections accepted and requests started
  // from now on use `config`; running ones keep theirs.
  // `tls`: the certificates read again for this generation.
  void apply(std::shared_ptr<const config::Config> config, std::shared_ptr<TlsContexts> tls, std::size_t max_sessions,
             std::vector<std::size_t> origin_connections) {
    asio::post(io_, [this, config = std::move(config), tls = std::move(tls), max_sessions,
                     origin_connections = std::move(origin_connections)] {
      config_ = config;
      if (tls) tls_ = tls;
      max_sessions_ = max_sessions;
      // The pools are the same ones (a changed pool needs a restart): only their limits move.
      for (std::size_t i = 0; i < multis_.size(); ++i)
        multis_[i]->set_limits(origin_connections[i], config->origins[i].queue_timeout);
      service_.use(config);
      if (warmer_) warmer_->apply(*config);
    });
  }

  bool draining() const override { return draining_; }

  // Cache warming ([[warm]]) runs on this worker's loop, through its service.
  void host_warming() {
    warmer_ = std::make_unique<warm::Warmer>(io_, service_, metrics_);
    warmer_->on_idle = [this] { stop_if_drained(); };
    asio::post(io_, [this] { warmer_->apply(*config_); });
  }

  asio::io_context& io() noexcept { return io_; }
  // Once, on this loop, when the drain has ended this worker's client traffic.
  std::function<void()> on_clients_done;
  // Listeners of relay's own hosted on this loop (admin/): the loop runs until they have closed.
  std::function<bool()> guests_closed;
  void recheck() {
    asio::post(io_, [this] { stop_if_drained(); });
  }

 private:
  void stop_if_drained() {
    // Background revalidations hold curl transfers: they end before the loop does.
    if (!draining_ || accepting_ != 0 || !sessions_.empty() || service_.background_tasks() != 0) return;
    if (warmer_ && !warmer_->idle()) return;
    if (auto done = std::exchange(on_clients_done, {})) done();
    if (!guests_closed || guests_closed()) io_.stop();
  }

  static void open_listener(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));  // TIME_WAIT leftovers only
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  }

  static void share(tcp::acceptor& mine, tcp::acceptor& first) {
    const int fd = ::dup(first.native_handle());
    if (fd < 0) throw boost::system::system_error(errno, boost::system::system_category(), "dup");
    boost::system::error_code ec;
    mine.assign(first.local_endpoint().protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      throw boost::system::system_error(ec, "assign");
    }
  }

  void spawn_accept_loop(tcp::acceptor& acceptor, bool tls, asio::cancellation_signal& cancel) {
    ++accepting_;
    asio::co_spawn(io_, accept_loop(acceptor, tls),
                   asio::bind_cancellation_slot(cancel.slot(), [this](std::exception_ptr) {
                     --accepting_;
                     stop_if_drained();
                   }));
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool tls) {
    AcceptBackoff backoff(tls ? "server.tls.listen" : "server.listen");
    for (;;) {
      auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
      if (cancelled != asio::cancellation_type::none || draining_) co_return;
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (draining_) co_return;
      if (ec) {
        co_await backoff.failed(ec);
        continue;
      }
      backoff.succeeded();
      if (sessions_.size() >= max_sessions_) {
        log::warn("server.max_connections reached: refusing a connection");
        continue;  // the socket closes as it goes out of scope
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto connection = std::make_shared<Connection>(ClientSocket(std::move(socket)), config_,
                                                     tls ? tls_ : nullptr, service_, metrics_, *this);
      sessions_.spawn(ContextExecutor(io_.get_executor(), std::shared_ptr<const RequestContext>(connection->context())),
                      connection->run(), {}, [weak = std::weak_ptr<Connection>(connection)] {
                        if (auto c = weak.lock()) c->drain();
                      });
    }
  }

  std::shared_ptr<const config::Config> config_;  // the newest: for connections accepted from now on
  std::shared_ptr<TlsContexts> tls_;              // likewise, for the TLS listener (null without one)
  static std::vector<std::unique_ptr<upstream::CurlMulti>> make_multis(asio::io_context& io, const config::Config& cfg,
                                                                      const std::vector<std::size_t>& connections) {
    std::vector<std::unique_ptr<upstream::CurlMulti>> out;
    for (std::size_t i = 0; i < cfg.origins.size(); ++i) {
      config::UpstreamConfig limits = cfg.upstream;
      limits.queue_timeout = cfg.origins[i].queue_timeout;
      out.push_back(std::make_unique<upstream::CurlMulti>(io, limits, connections[i]));
    }
    return out;
  }
  static std::vector<upstream::CurlMulti*> raw(const std::vector<std::unique_ptr<upstream::CurlMulti>>& multis) {
    std::vector<upstream::CurlMulti*> out;
    for (const auto& m : multis) out.push_back(m.get());
    return out;
  }

  asio::io_context io_{1};
  std::vector<std::unique_ptr<upstream::CurlMulti>> multis_;  // one per origin pool
  ProxyService service_;
  metrics::Metrics& metrics_;
  tcp::acceptor acceptor_;
  tcp::acceptor tls_acceptor_;  // open only with [server.tls] listen
  std::size_t max_sessions_;
  bool draining_ = false;
  int accepting_ = 0;  // accept loops still running
  asio::cancellation_signal accept_cancel_;
  asio::cancellation_signal tls_accept_cancel_;
  TaskGroup sessions_;
  std::unique_ptr<warm::Warmer> warmer_;  // on the first worker only
};

}  // namespace

// server.max_connections and upstream.max_connections hold for the process:
// each thread gets its share (a connection cannot move between threads'
// pools), at start and on every reload.
struct Shares {
  std::size_t threads;
  const config::Config& cfg;

  std::size_t sessions() const { return std::max<std::size_t>(1, cfg.server.max_connections / threads); }
  // Per pool, in Config::origins order.
  std::vector<std::size_t> origin(std::size_t worker) const {
    std::vector<std::size_t> out;
    for (const auto& pool : cfg.origins) {
      auto total = static_cast<std::size_t>(pool.max_connections);
      out.push_back(std::max<std::size_t>(1, total / threads + (worker < total % threads ? 1 : 0)));
    }
    return out;
  }
  void warn_if_origin_below_threads() const {
    for (const auto& pool : cfg.origins) {
      if (static_cast<std::size_t>(pool.max_connections) >= threads) continue;
      log::warn("max_connections of origin \"", pool.name, "\" (", pool.max_connections, ") is below the ", threads,
                " event-loop threads: each thread keeps one origin connection, ", threads, " in all");
    }
  }
};

// "origin http://..." for one pool of one member, else the pools by name.
static std::string origins_summary(const config::Config& cfg) {
  if (cfg.origins.size() == 1 && cfg.origins.front().members.size() == 1)
    return "origin " + cfg.origins.front().members.front().url;
  std::string out = "origins";
  for (const auto& pool : cfg.origins) {
    out.append(out == "origins" ? " " : ", ").append(pool.name).append(" (");
    out.append(std::to_string(pool.members.size())).append(pool.members.size() == 1 ? " member)" : " members)");
  }
  return out;
}

// What an operator must hear about [upstream.tls] at start and on reload
// (verify = false); nothing for an http:// origin, where it does not apply.
static void warn_about_upstream_tls(const config::Config& cfg) {
  for (const auto& pool : cfg.origins) {
    const bool https = std::any_of(pool.members.begin(), pool.members.end(),
                                   [](const config::OriginMember& m) { return m.url.starts_with("https:"); });
    if (!https) continue;
    const std::string where = pool.line ? "origins \"" + pool.name + "\" tls: " : "upstream.tls: ";
    for (const auto& warning : config::upstream_tls_warnings(pool.tls)) log::warn(where, warning);
  }
}

// One worker (thread, loop, origin pool share) per event-loop thread, all
// accepting on the first one's listening socket.
static std::vector<std::unique_ptr<Worker>> start_workers(const config::Config& cfg, proxy::Shared& shared,
                                                          const std::shared_ptr<TlsContexts>& tls) {
  const std::size_t threads = config::event_loop_threads(cfg.server);
  auto endpoint = listen_endpoint(cfg.server.listen);
  const Shares shares{threads, cfg};
  shares.warn_if_origin_below_threads();
  warn_about_upstream_tls(cfg);
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::size_t i = 0; i < threads; ++i) {
    workers.push_back(std::make_unique<Worker>(shared, tls, shares.sessions(), shares.origin(i)));
    if (i > 0) {
      workers.back()->share_listener(*workers.front());
      continue;
    }
    try {
      workers.back()->listen(endpoint);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("server.listen: cannot listen on " + cfg.server.listen.text + ": " + e.code().message());
    }
    if (!tls) continue;
    try {
      workers.back()->listen_tls(listen_endpoint(config::ListenAddress::parse(cfg.server.tls.listen)));
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("server.tls.listen: cannot listen on " + cfg.server.tls.listen + ": " +
                               e.code().message());
    }
  }
  return workers;
}

int run_server(std::shared_ptr<const config::Config> config, std::string config_path) {
  const config::Config& cfg = *config;  // at start; restart-only keys are read from this one
  // Before any thread exists, so every thread inherits it (supervisor.hpp).
  block_handled_signals();
  metrics::Metrics metrics;
  auto stack = storage::make_storage(cfg);
  metrics.watch_storage(stack.levels);
  auto storage = metrics::instrument(stack.top, metrics);
  proxy::AccessLog access_log(cfg.log);
  const auto& coalesce = cfg.cache.coalesce;
  proxy::KeySessions sessions(
      proxy::CoalescerSettings{coalesce.enabled, coalesce.follower_timeout, coalesce.max_fill_age,
                               coalesce.hit_for_miss, coalesce.lock_ttl, proxy::usable_spool_dir(coalesce.spool_dir),
                               coalesce.spool_memory, coalesce.degraded == config::DegradedMode::FailOpen},
      stack.lock, &metrics);
  purge::Purger purger(storage, metrics, sessions, cfg.purge.tag_headers);
  gateway::Origins origins(cfg, metrics.registry());
  origins.start();
  // Rate-limit buckets outlive reloads; the fleet's Redis connects on first use only.
  gateway::RateLimiter rate_limiter(gateway::make_redis_fleet_buckets(cfg.storage.redis), metrics.registry());
  // Hit counts of popular objects outlive reloads, like the key sessions.
  proxy::RefreshAhead refresh_ahead;
  proxy::Shared shared{config, storage, metrics, access_log, sessions, &purger, &origins, &rate_limiter, &refresh_ahead};

  // Ticket keys outlive reloads, so resumption survives a certificate swap.
  auto tickets = std::make_shared<TicketKeys>(cfg.server.tls.ticket_key_rotation);
  std::shared_ptr<TlsContexts> tls;
  if (cfg.server.tls.enabled()) tls = std::make_shared<TlsContexts>(cfg.server.tls, tickets);
  auto workers = start_workers(cfg, shared, tls);
  workers.front()->host_warming();
  const std::size_t threads = workers.size();
  config::Live live(config);
  Reloader reloader(std::move(config_path), live, access_log, metrics);
  reloader.on_apply([&workers, threads, tickets](const std::shared_ptr<const config::Config>& next) {
    const Shares shares{threads, *next};
    shares.warn_if_origin_below_threads();
    warn_about_upstream_tls(*next);
    // The files were checked before this reload was accepted (preflight);
    // one changed since then keeps the certificates in use.
    std::shared_ptr<TlsContexts> tls;
    if (next->server.tls.enabled()) {
      tickets->set_rotation(next->server.tls.ticket_key_rotation);
      try {
        tls = std::make_shared<TlsContexts>(next->server.tls, tickets);
      } catch (const std::runtime_error& e) {
        log::error("reload: keeping the TLS certificates in use: ", e.what());
      }
    }
    for (std::size_t i = 0; i < workers.size(); ++i)
      workers[i]->apply(next, tls, shares.sessions(), shares.origin(i));
  });
  // The admin API and a metrics listener, on the first worker's loop; they
  // close once every worker's client traffic has drained.
  std::vector<asio::io_context*> loops;
  for (auto& w : workers) loops.push_back(&w->io());
  admin::Endpoints endpoints(config, metrics, purger, [&live] { return live.get(); }, workers.front()->io(), loops,
                             [&reloader](std::string trigger) { return reloader.reload(trigger); });
  endpoints.listen();
  std::atomic<std::size_t> busy_workers{workers.size()};
  for (auto& w : workers)
    w->on_clients_done = [&] {
      if (--busy_workers == 0) {
        purger.stop();
        endpoints.close();
      }
    };
  workers.front()->guests_closed = [&endpoints] { return endpoints.closed(); };

  std::vector<maintenance::Task> tasks;
  for (auto& target : stack.maintenance) tasks.push_back(maintenance::sweep_task(target));
  maintenance::Scheduler scheduler(std::move(tasks), stack.maintenance_lock, cfg.maintenance.interval,
                                   [&metrics](const maintenance::Task& task, const maintenance::Round& round) {
                                     metrics.record_maintenance(task.name, maintenance::outcome_name(round.outcome),
                                                                round.removed);
                                   });
  scheduler.start();

  std::string listening = cfg.server.listen.text;
  if (cfg.server.h2c) listening.append(" (HTTP/1.1, h2c)");
  if (tls) listening.append(" and ").append(cfg.server.tls.listen).append(cfg.server.tls.http2 ? " (TLS: h2, HTTP/1.1)" : " (TLS: HTTP/1.1)");
  log::info("relay ", RELAY_VERSION, " listening on ", listening, " (", threads,
            threads == 1 ? " thread" : " threads", "), ", origins_summary(cfg));

  endpoints.start();
  // Purges run on whichever loop asked; the fleet's arrive on the first one.
  auto& first_loop = workers.front()->io();
  purger.start(admin::uses_redis(cfg) ? storage::make_redis_purge_bus(cfg.storage.redis, first_loop) : nullptr,
               first_loop);

  // Under systemd: serving now, and pinged while every loop turns.
  auto loop_watchdog = systemd::LoopWatchdog::from_environment(loops);
  const std::string serving_status = "serving on " + listening;
  systemd::notify_ready(serving_status);

  std::vector<Drainable*> drainable;
  for (auto& w : workers) drainable.push_back(w.get());
  drainable.push_back(&endpoints);
  int status = exit_clean;
  {
    Supervisor supervisor(cfg.server.shutdown_grace, std::move(drainable));
    // Before any loop runs: no reload can happen before this is in place.
    reloader.on_apply([&supervisor](const std::shared_ptr<const config::Config>& next) {
      supervisor.set_grace(next->server.shutdown_grace);
    });
    supervisor.on_reload = [&reloader, &serving_status] {
      systemd::notify_reloading();
      reloader.reload("SIGHUP");
      systemd::notify_ready(serving_status);  // whatever the outcome: a failed reload keeps serving
    };
    // A drain is no wedge: loops that have finished stop answering the watchdog.
    supervisor.on_drain = [&loop_watchdog] {
      systemd::notify_stopping();
      loop_watchdog.reset();
    };
    supervisor.on_reopen_logs = [&access_log] {
      try {
        log::info(access_log.reopen() ? "SIGUSR1: access log reopened"
                                      : "SIGUSR1: the access log is no file (log.access_log): nothing to reopen");
      } catch (const std::runtime_error& e) {
        log::error("SIGUSR1: cannot reopen the access log, still writing the old file: ", e.what());
      }
    };
    endpoints.on_closed = [&supervisor, host = workers.front().get()] {
      host->recheck();
      supervisor.worker_ended();
    };
    std::vector<std::thread> pool;
    for (auto& w : workers) {
      pool.emplace_back([&supervisor, worker = w.get()] {
        worker->run();
        supervisor.worker_ended();
      });
    }
    status = supervisor.run();
    for (auto& t : pool) t.join();
  }
  // The purge bus closes on the first loop (its timer and Redis connections
  // are Asio objects there): let that close run now, while the loop's
  // services exist, rather than at the loop's destruction.
  purger.stop();
  workers.front()->io().restart();
  workers.front()->io().poll();
  ignore_handled_signals();
  scheduler.stop();
  log::info(status == exit_clean ? "relay stopped" : "relay stopped: the shutdown grace cut requests");
  return status;
}

}  // namespace relay::server
