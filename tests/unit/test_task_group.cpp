// TaskGroup: drain hooks run once, cancel() ends a task blocked in a wait
// (and one spawned after it), on_empty runs after the last task left.
#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "relay/util/task_group.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
// Waits up to an hour, then one more wait: a terminal cancel must end both.
asio::awaitable<void> wait_long(bool& woke) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  woke = true;
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));  // throws: cancelled
}
}  // namespace

TEST_CASE("task group: cancel ends waiting tasks, on_empty after the last") {
  asio::io_context io;
  relay::TaskGroup group;
  bool woke = false;
  int failures = 0;
  int drained = 0;
  int emptied = 0;
  group.on_empty = [&] { ++emptied; };
  auto count_failure = [&](std::exception_ptr e) { failures += e ? 1 : 0; };
  group.spawn(io.get_executor(), wait_long(woke), count_failure, [&] { ++drained; });
  io.poll();
  CHECK(group.size() == 1);
  group.drain();
  group.drain();
  CHECK(drained == 1);
  group.cancel();
  bool late = false;
  group.spawn(io.get_executor(), wait_long(late), count_failure);
  auto start = std::chrono::steady_clock::now();
  io.run_for(5s);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(woke);
  CHECK(group.empty());
  CHECK(failures == 2);
  CHECK(emptied == 1);
}
