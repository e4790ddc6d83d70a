// sd_notify from libsystemd (see systemd.hpp). The watchdog's thread only
// posts and waits: it shares nothing with the loops but an atomic counter.
#include "relay/server/systemd.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "relay/util/log.hpp"

namespace relay::server::systemd {

namespace {

void notify(const std::string& state) {
  // < 0: the socket is gone (systemd restarting?); relay serves on regardless.
  if (sd_notify(0, state.c_str()) < 0) log::debug("sd_notify failed: ", state);
}

}  // namespace

void notify_ready(std::string_view status) { notify("READY=1\nSTATUS=" + std::string(status)); }

void notify_reloading() {
  // MONOTONIC_USEC: systemd 253's Type=notify-reload matches the reload by it.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL + now.tv_nsec / 1000;
  notify("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() { notify("STOPPING=1\nSTATUS=draining"); }

struct LoopWatchdog::State : std::enable_shared_from_this<State> {
  std::vector<boost::asio::io_context*> loops;
  std::chrono::microseconds interval;
  std::function<void()> ping;
  // Loops that have run the handler of the current round.
  std::atomic<std::size_t> answered{0};
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread thread;

  void post_round() {
    answered = 0;
    // The handler holds the state alive: a loop may run it after the destructor.
    for (auto* loop : loops) boost::asio::post(*loop, [self = shared_from_this()] { self->answered.fetch_add(1); });
  }

  void run() {
    post_round();
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, interval, [this] { return stopping; })) {
      if (answered.load() < loops.size()) {
        // A loop has not run a posted handler for a whole interval: no
        // ping, and no new round until it catches up, so one slow turn is
        // forgiven but a stuck loop lets WatchdogSec run out.
        log::warn("watchdog: an event loop has not answered for ", interval.count() / 1000, " ms");
        continue;
      }
      ping();
      post_round();
    }
  }
};

LoopWatchdog::LoopWatchdog(std::vector<boost::asio::io_context*> loops, std::chrono::microseconds interval,
                           std::function<void()> ping)
    : state_(std::make_shared<State>()) {
  state_->loops = std::move(loops);
  state_->interval = interval;
  state_->ping = std::move(ping);
  state_->thread = std::thread([state = state_] { state->run(); });
}

LoopWatchdog::~LoopWatchdog() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  state_->thread.join();
}

std::unique_ptr<LoopWatchdog> LoopWatchdog::from_environment(std::vector<boost::asio::io_context*> loops) {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return nullptr;
  log::info("systemd watchdog: pinging every ", usec / 2000, " ms while every event loop turns");
  return std::make_unique<LoopWatchdog>(std::move(loops), std::chrono::microseconds(usec / 2),
                                        [] { notify("WATCHDOG=1"); });
}

}  // namespace relay::server::systemd
