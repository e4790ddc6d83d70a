// The systemd service protocol (sd_notify): READY once relay serves,
// RELOADING/READY around a reload, STOPPING when a drain begins, and
// watchdog pings that stop as soon as any event loop stops turning, so
// systemd restarts a wedged relay (WatchdogSec=). Without $NOTIFY_SOCKET
// (not started by systemd) every call does nothing.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace relay::server::systemd {

void notify_ready(std::string_view status);
void notify_reloading();
void notify_stopping();

// Pings systemd's watchdog from a thread of its own, each time every loop
// has run a handler posted to it since the last ping. A loop stuck in a
// handler never answers, the pings stop, and systemd acts when WatchdogSec
// runs out. Does nothing unless systemd asked for pings ($WATCHDOG_USEC).
class LoopWatchdog {
 public:
  // interval: how often to ping; ping: what a ping does (tests observe it).
  LoopWatchdog(std::vector<boost::asio::io_context*> loops, std::chrono::microseconds interval,
               std::function<void()> ping);
  ~LoopWatchdog();  // stops the thread
  LoopWatchdog(const LoopWatchdog&) = delete;
  LoopWatchdog& operator=(const LoopWatchdog&) = delete;

  // The watchdog systemd asked for (half its WatchdogSec between pings), or
  // nullptr when it asked for none.
  static std::unique_ptr<LoopWatchdog> from_environment(std::vector<boost::asio::io_context*> loops);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace relay::server::systemd
