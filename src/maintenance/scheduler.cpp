// The maintenance scheduler (see scheduler.hpp): a timer loop per task on
// one private event loop, and the lock that makes one instance per scope
// run each round.
#include "relay/maintenance/scheduler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <random>

#include "relay/util/log.hpp"

namespace relay::maintenance {

namespace asio = boost::asio;

namespace {

// Up to 5% later than the interval, so instances started together drift
// apart instead of racing for every round; always past the lock's 90%.
Duration jittered(Duration interval) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<Duration::rep> extra(0, interval.count() / 20);
  return interval + Duration(extra(rng));
}

asio::awaitable<Round> run_locally(const Task& task) {
  try {
    auto removed = co_await task.run();
    if (!removed) {
      log::warn("maintenance: ", task.name, " ", task.scope, " failed: ", removed.error().message());
      co_return Round{Outcome::failed, 0};
    }
    co_return Round{Outcome::ran, *removed};
  } catch (const std::exception& e) {
    log::warn("maintenance: ", task.name, " ", task.scope, " failed: ", e.what());
  }
  co_return Round{Outcome::failed, 0};
}

}  // namespace

std::string_view outcome_name(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::ran: return "ran";
    case Outcome::skipped: return "skipped";
    case Outcome::failed: return "failed";
  }
  return "failed";
}

std::chrono::milliseconds round_lock_ttl(Duration interval) noexcept {
  return std::max(Duration(1), interval * 9 / 10);
}

asio::awaitable<Round> guarded_round(storage::DistributedLock* lock, const Task& task,
                                     std::chrono::milliseconds lock_ttl) {
  if (lock != nullptr) {
    // Held until it expires, not released: an instance whose round starts
    // later in the same interval must still find it taken.
    auto held = co_await lock->try_acquire("maintenance:" + task.name + ":" + task.scope, lock_ttl);
    if (held && !*held) co_return Round{Outcome::skipped, 0};
    if (!held)
      log::debug("maintenance: lock for ", task.name, " ", task.scope, " unavailable (",
                 held.error().message(), "): running the round locally");
  }
  co_return co_await run_locally(task);
}

Scheduler::Scheduler(std::vector<Task> tasks, std::shared_ptr<storage::DistributedLock> lock,
                     Duration interval, Observer on_round)
    : tasks_(std::move(tasks)), lock_(std::move(lock)), interval_(interval), on_round_(std::move(on_round)) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  if (tasks_.empty() || interval_.count() <= 0 || thread_.joinable()) return;
  // The lock's Redis connection keeps a read pending on this loop for as
  // long as it lives, so the loop is stopped rather than left to run dry.
  loops_.on_empty = [this] { io_.stop(); };
  for (const auto& task : tasks_) {
    auto timer = std::make_shared<asio::steady_timer>(io_);
    // Draining cancels the wait between rounds; a round under way finishes.
    loops_.spawn(
        io_.get_executor(), every_interval(task, timer),
        [&task](std::exception_ptr failure) {
          if (!failure) return;
          try {
            std::rethrow_exception(failure);
          } catch (const std::exception& e) {
            log::error("maintenance: ", task.name, " ", task.scope, " stopped: ", e.what());
          }
        },
        [timer] { timer->cancel(); });
  }
  thread_ = std::thread([this] { io_.run(); });
}

void Scheduler::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    loops_.drain();
  });
  thread_.join();
}

asio::awaitable<void> Scheduler::every_interval(const Task& task, std::shared_ptr<asio::steady_timer> timer) {
  const auto ttl = round_lock_ttl(interval_);
  while (!stopping_) {
    timer->expires_after(jittered(interval_));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) break;
    auto round = co_await guarded_round(lock_.get(), task, ttl);
    if (on_round_) on_round_(task, round);
  }
}

}  // namespace relay::maintenance
