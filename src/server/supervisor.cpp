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
#include <thread>

#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;

namespace {

// After the terminal cancel, the time code that honours cancellation needs
// to unwind. Past it something ignored the cancel, and waiting longer only
// delays the restart the operator asked for.
constexpr std::chrono::seconds unwind_bound{2};
// Past grace and unwind_bound, the stop itself is stuck somewhere.
constexpr std::chrono::seconds last_resort_margin{3};

// What the signal_set waits for: stop, reload, reopen, and the ones worth
// a log line when someone sends them by mistake.
constexpr int kHandled[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT};

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : kHandled) sigaddset(&set, signo);
  return set;
}

// Ignored outright. SIGPIPE: a peer that vanishes must be an error return,
// not a signal (hiredis and curl write to sockets with plain write()). The
// rest end a process by default and mean nothing to relay. The faults
// (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) keep their default.
void ignore_stray_signals() {
  for (int signo : {SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGXCPU, SIGXFSZ, SIGSTKFLT})
    std::signal(signo, SIG_IGN);
  for (int signo = SIGRTMIN; signo <= SIGRTMAX; ++signo) std::signal(signo, SIG_IGN);
}

const char* signal_name(int signo) {
  switch (signo) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGQUIT: return "SIGQUIT";
  }
  return "signal";
}

}  // namespace

void block_handled_signals() {
  auto set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ignore_stray_signals();
}

void ignore_handled_signals() {
  // Still blocked here, so nothing is delivered between the signal_set
  // restoring the default action and this.
  for (int signo : kHandled) std::signal(signo, SIG_IGN);
}

struct Supervisor::Impl {
  Impl(std::chrono::milliseconds grace_period, std::vector<Drainable*> all)
      : grace(grace_period), workers(std::move(all)), running(workers.size()) {}

  void wait_signal() {
    signals.async_wait([this](const boost::system::error_code& ec, int signo) {
      // A signal already queued when the last worker ended must not re-arm
      // the wait: signals.cancel() found nothing to cancel, and run() would
      // never return.
      if (ec || running == 0) return;
      on_signal(signo);
      wait_signal();
    });
  }

  void on_signal(int signo) {
    const char* name = signal_name(signo);
    if (signo == SIGUSR2 || signo == SIGQUIT) {
      log::info(name, ": ignored (SIGTERM or SIGINT stop relay, SIGHUP reloads, SIGUSR1 reopens the access log)");
      return;
    }
    if (draining) {
      log::info(name, ": already shutting down");
      return;
    }
    if (signo == SIGHUP) {
      if (on_reload) on_reload();
      return;
    }
    if (signo == SIGUSR1) {
      if (on_reopen_logs) on_reopen_logs();
      return;
    }
    draining = true;
    log::info(name, ": draining, grace ", grace.count(), " ms");
    if (on_drain) on_drain();
    for (auto* w : workers) w->begin_drain();
    arm_last_resort(grace + unwind_bound + last_resort_margin);
    grace_timer.expires_after(grace);
    grace_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) on_grace_elapsed();
    });
  }

  // Off the loops and this io_context: whatever wedges the stop (a loop
  // that never returns, a join that never ends), the process still exits
  // in bounded time, as the operator who stopped it expects.
  static void arm_last_resort(std::chrono::milliseconds after) {
    std::thread([after] {
      std::this_thread::sleep_for(after);
      log::error("shutdown: still running ", after.count(), " ms after the stop signal: exiting");
      std::fflush(nullptr);
      std::_Exit(exit_cut);
    }).detach();
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
  asio::signal_set signals{io};
  asio::steady_timer grace_timer{io};
  asio::steady_timer backstop{io};
  std::chrono::milliseconds grace;
  std::vector<Drainable*> workers;
  std::size_t running;
  bool draining = false;
  bool cut = false;
  std::function<void()> on_reload;
  std::function<void()> on_reopen_logs;
  std::function<void()> on_drain;
};

Supervisor::Supervisor(std::chrono::milliseconds grace, std::vector<Drainable*> workers)
    : impl_(std::make_unique<Impl>(grace, std::move(workers))) {}

Supervisor::~Supervisor() = default;

void Supervisor::worker_ended() {
  asio::post(impl_->io, [impl = impl_.get()] { impl->on_worker_ended(); });
}

void Supervisor::set_grace(std::chrono::milliseconds grace) {
  asio::post(impl_->io, [impl = impl_.get(), grace] { impl->grace = grace; });
}

int Supervisor::run() {
  if (impl_->running == 0) return exit_clean;
  for (int signo : kHandled) impl_->signals.add(signo);
  impl_->on_reload = std::move(on_reload);
  impl_->on_reopen_logs = std::move(on_reopen_logs);
  impl_->on_drain = std::move(on_drain);
  impl_->wait_signal();
  auto set = handled_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  impl_->io.run();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return impl_->cut ? exit_cut : exit_clean;
}

}  // namespace relay::server
