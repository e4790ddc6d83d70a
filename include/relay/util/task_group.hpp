// A group of coroutines spawned on one event loop that can be told to drain
// and then be cancelled together (the shape of Beast's task_group in
// example/advanced/server-flex-awaitable). Each task gets its own
// cancellation_signal, bound to the co_spawn completion: cancel() emits
// terminal cancellation into every live task, so the operation it awaits
// ends with operation_aborted and its next co_await throws. Draining is
// softer and task-specific: a task may register a hook (close an idle
// connection, stop a timer) that drain() calls; in-flight work goes on.
// Invariants: used from the loop's thread only; a task leaves the group
// when its completion runs, and on_empty runs after the last one left.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <cassert>
#include <cstddef>
#include <exception>
#include <functional>
#include <list>
#include <utility>

namespace relay {

class TaskGroup {
 public:
  TaskGroup() = default;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup() { assert(tasks_.empty() && "a task outlived its group"); }

  // Spawns `work` on `executor` as a member of the group. `done` runs with
  // the coroutine's exception (if any) after it ended; `on_drain` (may be
  // empty) is what drain() asks of this task.
  void spawn(const boost::asio::any_io_executor& executor, boost::asio::awaitable<void> work,
             std::function<void(std::exception_ptr)> done = {}, std::function<void()> on_drain = {}) {
    auto task = tasks_.emplace(tasks_.end());
    task->on_drain = std::move(on_drain);
    boost::asio::co_spawn(
        executor, std::move(work),
        boost::asio::bind_cancellation_slot(task->signal.slot(),
                                            [this, task, done = std::move(done)](std::exception_ptr e) {
                                              tasks_.erase(task);
                                              if (done) done(e);
                                              if (tasks_.empty() && on_empty) on_empty();
                                            }));
    // After co_spawn: only then does the slot hold the coroutine's handler.
    if (cancelled_) task->signal.emit(boost::asio::cancellation_type::terminal);
  }

  // Runs every task's drain hook once; tasks spawned later are not drained.
  void drain() {
    for (auto& task : tasks_)
      if (auto hook = std::exchange(task.on_drain, {})) hook();
  }

  // Terminal cancellation of every live task (and of any spawned later).
  void cancel() {
    cancelled_ = true;
    for (auto& task : tasks_) task.signal.emit(boost::asio::cancellation_type::terminal);
  }

  std::size_t size() const noexcept { return tasks_.size(); }
  bool empty() const noexcept { return tasks_.empty(); }
  bool cancelled() const noexcept { return cancelled_; }

  // Called when the last task has left the group.
  std::function<void()> on_empty;

 private:
  struct Task {
    boost::asio::cancellation_signal signal;
    std::function<void()> on_drain;
  };
  std::list<Task> tasks_;
  bool cancelled_ = false;
};

}  // namespace relay
