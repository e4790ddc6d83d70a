// Threads, listeners and graceful shutdown. Each worker thread runs its own
// io_context with its own acceptor (SO_REUSEPORT lets the kernel spread
// connections), curl multi and handler, so a request never crosses threads.
#include "relay/server/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "relay/maintenance/scheduler.hpp"
#include "relay/metrics/instrumented_storage.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/access_log.hpp"
#include "relay/proxy/spool.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/server/session.hpp"
#include "relay/storage/make_storage.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// server.listen arrives checked: address is an IP literal.
tcp::endpoint listen_endpoint(const config::ListenAddress& listen) {
  return {asio::ip::make_address(listen.address), listen.port};
}

class Worker final : public SessionHost {
 public:
  Worker(const config::Config& cfg, proxy::Shared shared, std::size_t max_sessions, std::size_t origin_connections)
      : cfg_(cfg),
        multi_(io_, cfg.upstream, origin_connections),
        handler_(shared, multi_),
        metrics_(shared.metrics),
        acceptor_(io_),
        max_sessions_(max_sessions) {
    handler_.on_background_idle = [this] { stop_if_drained(); };
    multi_.on_queue_enter = [this] { metrics_.record_upstream_queue(true); };
    multi_.on_queue_leave = [this](bool) { metrics_.record_upstream_queue(false); };
  }

  void listen(const tcp::endpoint& endpoint, bool reuse_port) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    if (reuse_port) {
      int one = 1;
      ::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void run() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    io_.run();
  }

  // Called from any thread.
  void begin_drain() {
    asio::post(io_, [this] {
      draining_ = true;
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto* s : sessions_) s->close_if_idle();
      stop_if_drained();
    });
  }

  bool draining() const override { return draining_; }

  void session_ended(Session* session) override {
    sessions_.erase(session);
    stop_if_drained();
  }

 private:
  void stop_if_drained() {
    // Background revalidations hold curl transfers: they end before the loop does.
    if (draining_ && sessions_.empty() && handler_.background_tasks() == 0) io_.stop();
  }

  asio::awaitable<void> accept_loop() {
    while (!draining_) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (draining_) co_return;
      if (ec) {
        log::warn("accept failed: ", ec.message());
        // Out of descriptors: back off instead of spinning.
        asio::steady_timer pause(io_, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (sessions_.size() >= max_sessions_) {
        log::warn("server.max_connections reached: refusing a connection");
        continue;  // the socket closes as it goes out of scope
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(std::move(socket), cfg_.server, handler_, metrics_, *this);
      sessions_.insert(session.get());
      asio::co_spawn(io_, session->run(), asio::detached);
    }
  }

  const config::Config& cfg_;
  asio::io_context io_{1};
  upstream::CurlMulti multi_;
  proxy::Handler handler_;
  metrics::Metrics& metrics_;
  tcp::acceptor acceptor_;
  std::size_t max_sessions_;
  bool draining_ = false;
  std::unordered_set<Session*> sessions_;
};

}  // namespace

int run_server(const config::Config& cfg) {
  metrics::Metrics metrics;
  auto stack = storage::make_storage(cfg);
  metrics.watch_storage(stack.levels);
  auto storage = metrics::instrument(stack.top, metrics.registry());
  proxy::AccessLog access_log(cfg.log);
  const auto& coalesce = cfg.cache.coalesce;
  proxy::Coalescer coalescer(proxy::CoalescerSettings{coalesce.enabled, coalesce.follower_timeout,
                                                     coalesce.max_fill_age, coalesce.hit_for_miss,
                                                     proxy::usable_spool_dir(coalesce.spool_dir),
                                                     coalesce.spool_memory});
  proxy::Shared shared{cfg, storage, metrics, access_log, coalescer, stack.lock};

  std::size_t threads = cfg.server.threads > 0 ? static_cast<std::size_t>(cfg.server.threads)
                                               : std::max(1u, std::thread::hardware_concurrency());
  auto endpoint = listen_endpoint(cfg.server.listen);
  std::size_t per_worker = std::max<std::size_t>(1, cfg.server.max_connections / threads);
  // upstream.max_connections holds for the process: each thread's curl multi
  // gets its share (a connection cannot move between threads' pools).
  auto origin_total = static_cast<std::size_t>(cfg.upstream.max_connections);
  if (origin_total < threads) {
    log::warn("upstream.max_connections (", origin_total, ") is below the ", threads,
              " event-loop threads: each thread keeps one origin connection, ", threads, " in all");
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::size_t i = 0; i < threads; ++i) {
    std::size_t origin_share = std::max<std::size_t>(1, origin_total / threads + (i < origin_total % threads ? 1 : 0));
    workers.push_back(std::make_unique<Worker>(cfg, shared, per_worker, origin_share));
    try {
      workers.back()->listen(endpoint, threads > 1);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("server.listen: cannot listen on " + cfg.server.listen.text + ": " + e.code().message());
    }
  }
  std::vector<maintenance::Task> tasks;
  for (auto& target : stack.maintenance) tasks.push_back(maintenance::sweep_task(target));
  maintenance::Scheduler scheduler(std::move(tasks), stack.maintenance_lock, cfg.maintenance.interval,
                                   [&metrics](const maintenance::Task& task, const maintenance::Round& round) {
                                     metrics.record_maintenance(task.name, maintenance::outcome_name(round.outcome),
                                                                round.removed);
                                   });
  scheduler.start();

  log::info("relay ", RELAY_VERSION, " listening on ", cfg.server.listen.text, " (", threads,
            threads == 1 ? " thread" : " threads", "), origin ", cfg.upstream.url.text);

  std::atomic<std::size_t> running{threads};
  std::mutex done_mutex;
  std::condition_variable done;
  std::vector<std::thread> pool;
  for (auto& w : workers) {
    pool.emplace_back([&, worker = w.get()] {
      worker->run();
      std::lock_guard lock(done_mutex);
      --running;
      done.notify_all();
    });
  }

  // Signals are taken on their own thread; workers are told through post().
  bool signalled = false;
  asio::io_context signal_io;
  asio::signal_set signals(signal_io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::info("signal ", signo, ": draining, grace ", cfg.server.shutdown_grace.count(), " ms");
    for (auto& w : workers) w->begin_drain();
    std::lock_guard lock(done_mutex);
    signalled = true;
    done.notify_all();
  });
  std::thread signal_thread([&] { signal_io.run(); });

  {
    std::unique_lock lock(done_mutex);
    done.wait(lock, [&] { return signalled || running == 0; });
    if (!done.wait_for(lock, cfg.server.shutdown_grace, [&] { return running == 0; })) {
      // Unwinding live transfers buys nothing at this point: leave at once.
      log::warn("shutdown grace elapsed with requests still in flight: exiting");
      std::fflush(nullptr);
      std::_Exit(0);
    }
  }
  for (auto& t : pool) t.join();
  scheduler.stop();
  signal_io.stop();
  signal_thread.join();
  log::info("relay stopped");
  return 0;
}

}  // namespace relay::server
