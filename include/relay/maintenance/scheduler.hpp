// Scheduled maintenance (the disk store's sweep today): every interval, plus
// up to 5% jitter, each task runs one round as a coroutine on the
// scheduler's own event loop. A round is guarded by a lock shared between
// instances when there is one: try_acquire("maintenance:<task>:<scope>")
// with a TTL of 90% of the interval, never released, so one instance per
// scope runs each round and the others skip it. An unreachable Redis does
// not stop the cleanup: the round runs locally (a task's scope is something
// this instance may work on alone, e.g. its own cache directory).
//
// Its own thread and io_context, not a worker's: a round never holds up a
// worker's drain, and stop() can wait for a round under way without racing
// the workers' loops being torn down.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "relay/storage/distributed_lock.hpp"
#include "relay/storage/maintenance.hpp"
#include "relay/util/result.hpp"
#include "relay/util/task_group.hpp"

namespace relay::maintenance {

using Duration = std::chrono::milliseconds;

enum class Outcome { ran, skipped, failed };
// "ran", "skipped", "failed": the metric label.
std::string_view outcome_name(Outcome outcome) noexcept;

struct Task {
  std::string name;   // metric label, log text and lock name part
  std::string scope;  // rounds of one name and scope never overlap across instances
  // One round; how many things it removed.
  std::function<boost::asio::awaitable<Result<std::uint64_t>>()> run;
};

// A backend's sweep as a task; logs one info line per round that removed
// something.
Task sweep_task(std::shared_ptr<storage::Maintainable> target);

struct Round {
  Outcome outcome = Outcome::ran;
  std::uint64_t removed = 0;
};

// One round of task, behind lock when it is not null (see above). Runs on
// the caller's executor; never throws.
boost::asio::awaitable<Round> guarded_round(storage::DistributedLock* lock, const Task& task,
                                            std::chrono::milliseconds lock_ttl);

// The lock TTL for rounds every interval: long enough that the others skip
// the round, short enough that it is free again by the next one.
std::chrono::milliseconds round_lock_ttl(Duration interval) noexcept;

class Scheduler {
 public:
  using Observer = std::function<void(const Task&, const Round&)>;

  // on_round is called after every round, on the scheduler's thread.
  Scheduler(std::vector<Task> tasks, std::shared_ptr<storage::DistributedLock> lock, Duration interval,
            Observer on_round);
  ~Scheduler();  // stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the thread; nothing to do (no tasks, interval 0) starts nothing.
  void start();
  // Cancels the waits, lets a round under way finish, joins. Idempotent.
  void stop();

 private:
  boost::asio::awaitable<void> every_interval(const Task& task, std::shared_ptr<boost::asio::steady_timer> timer);

  std::vector<Task> tasks_;
  std::shared_ptr<storage::DistributedLock> lock_;
  Duration interval_;
  Observer on_round_;
  boost::asio::io_context io_{1};
  TaskGroup loops_;        // one per task, on io_ only
  bool stopping_ = false;  // touched on io_ only
  std::thread thread_;
};

}  // namespace relay::maintenance
