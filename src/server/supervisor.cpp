// Signals, the grace period and the exit status (see supervisor.hpp). All
// state lives on a private io_context run by run(); workers reach it only
// through worker_ended(), which posts.
#include "relay/server/supervisor.hpp"

#include <pthread.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cassert>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;

namespace {

// After the terminal cancel, the time code that honours cancellation needs
// to unwind. Past it something ignored the cancel, and waiting longer only
// delays the restart the operator asked for.
constexpr std::chrono::seconds unwind_bound{2};

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void block_stop_signals() {
  auto set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void ignore_stop_signals() {
  // Still blocked here, so nothing is delivered between the signal_set
  // restoring the default action and this.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
}

struct Supervisor::Impl {
  Impl(std::chrono::milliseconds grace_period, std::vector<Drainable*> all)
      : grace(grace_period), workers(std::move(all)), running(workers.size()) {}

  void wait_signal() {
    signals.async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      on_signal(signo);
      wait_signal();
    });
  }

  void on_signal(int signo) {
    if (draining) {
      log::info("signal ", signo, ": already shutting down");
      return;
    }
    draining = true;
    log::info("signal ", signo, ": draining, grace ", grace.count(), " ms");
    for (auto* w : workers) w->begin_drain();
    grace_timer.expires_after(grace);
    grace_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) on_grace_elapsed();
    });
  }

  void on_grace_elapsed() {
    assert(draining && running > 0);
    cut = true;
    log::warn("shutdown grace elapsed with requests still in flight: cancelling them");
    for (auto* w : workers) w->cancel();
    backstop.expires_after(unwind_bound);
    backstop.async_wait([](const boost::system::error_code& ec) {
      if (ec) return;
      // A task ignored the cancel; its state cannot be unwound safely.
      log::error("shutdown: in-flight work did not end after cancellation: exiting");
      std::fflush(nullptr);
      std::_Exit(exit_cut);
    });
  }

  void on_worker_ended() {
    assert(running > 0);
    if (--running > 0) return;
    grace_timer.cancel();
    backstop.cancel();
    signals.cancel();
  }

  asio::io_context io{1};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  asio::steady_timer grace_timer{io};
  asio::steady_timer backstop{io};
  std::chrono::milliseconds grace;
  std::vector<Drainable*> workers;
  std::size_t running;
  bool draining = false;
  bool cut = false;
};

Supervisor::Supervisor(std::chrono::milliseconds grace, std::vector<Drainable*> workers)
    : impl_(std::make_unique<Impl>(grace, std::move(workers))) {}

Supervisor::~Supervisor() = default;

void Supervisor::worker_ended() {
  asio::post(impl_->io, [impl = impl_.get()] { impl->on_worker_ended(); });
}

int Supervisor::run() {
  if (impl_->running == 0) return exit_clean;
  impl_->wait_signal();
  auto set = stop_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  impl_->io.run();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return impl_->cut ? exit_cut : exit_clean;
}

}  // namespace relay::server
