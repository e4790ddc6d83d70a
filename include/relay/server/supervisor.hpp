// Process shutdown, on the main thread: the first SIGINT/SIGTERM drains
// every worker (stop accepting, finish in-flight requests); when
// server.shutdown_grace passes first, the workers are cancelled terminally.
// Later SIGINT/SIGTERM are logged and otherwise ignored: relay never dies
// of the default signal action once it has started serving.
// Exit status: 0 after a clean drain, exit_cut (1) when the grace period cut
// requests. Invariant: SIGINT/SIGTERM are blocked on every thread but the
// one inside run(), so only the signal_set ever sees them.
#pragma once

#include <atomic>
#include <chrono>
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

// Blocks SIGINT and SIGTERM in the calling thread (and the threads it
// starts afterwards): call before any thread is created.
void block_stop_signals();
// After run(): SIGINT/SIGTERM are ignored until the process exits.
void ignore_stop_signals();

class Supervisor {
 public:
  Supervisor(std::chrono::milliseconds grace, std::vector<Drainable*> workers);
  ~Supervisor();
  // From any thread: a worker's loop has ended.
  void worker_ended();
  // Runs until every worker has ended; returns the exit status.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relay::server
