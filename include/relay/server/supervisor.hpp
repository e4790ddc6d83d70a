// Signals, on the main thread. The first SIGINT/SIGTERM drains every
// worker (stop accepting, finish in-flight requests); when
// server.shutdown_grace passes first, the workers are cancelled terminally.
// Later SIGINT/SIGTERM are logged and otherwise ignored. SIGHUP asks for a
// reload, SIGUSR1 for the access log to be reopened (logrotate); SIGUSR2
// and SIGQUIT are logged and ignored; SIGPIPE, SIGALRM and the other
// signals whose default action ends a process (bar the faults) are
// ignored: relay never dies of a default signal action once it has started
// serving, only of SIGTERM/SIGINT (a drain) and SIGKILL.
// Exit status: 0 after a clean drain, exit_cut (1) when the grace period cut
// requests. Invariant: the handled signals are blocked on every thread but
// the one inside run(), so only the signal_set ever sees them.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace relay::server {

// What the supervisor asks of a worker; both are called from the main
// thread and must hand over to the worker's own loop.
class Drainable {
 public:
  virtual ~Drainable() = default;
  virtual void begin_drain() = 0;
  virtual void cancel() = 0;
};

inline constexpr int exit_clean = 0;
inline constexpr int exit_cut = 1;

// Blocks the handled signals in the calling thread (and the threads it
// starts afterwards) and ignores the stray ones: call before any thread is
// created.
void block_handled_signals();
// After run(): the handled signals are ignored until the process exits.
void ignore_handled_signals();

class Supervisor {
 public:
  Supervisor(std::chrono::milliseconds grace, std::vector<Drainable*> workers);
  ~Supervisor();
  // From any thread: a worker's loop has ended.
  void worker_ended();
  // Runs until every worker has ended; returns the exit status.
  int run();
  // From any thread: the grace of a drain that starts later (a reload).
  void set_grace(std::chrono::milliseconds grace);

  // Run on the main thread, inside run(); not during a drain. Set before run().
  std::function<void()> on_reload;       // SIGHUP
  std::function<void()> on_reopen_logs;  // SIGUSR1
  std::function<void()> on_drain;        // SIGTERM or SIGINT: the drain begins

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relay::server
