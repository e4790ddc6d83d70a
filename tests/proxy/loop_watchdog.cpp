// The systemd watchdog's liveness rule (server/systemd.hpp) with real event
// loops on threads: pings while every loop turns, none while one is stuck
// in a handler, pings again once it is free.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "relay/server/systemd.hpp"

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// An io_context run on a thread of its own until destroyed.
struct RunningLoop {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};
  ~RunningLoop() {
    work.reset();
    io.stop();
    thread.join();
  }
};

int pings_within(const std::atomic<int>& pings, std::chrono::milliseconds window) {
  const int before = pings.load();
  std::this_thread::sleep_for(window);
  return pings.load() - before;
}

}  // namespace

TEST_CASE("systemd watchdog: pings stop while a loop is stuck and resume once it turns") {
  RunningLoop a, b;
  std::atomic<int> pings{0};
  relay::server::systemd::LoopWatchdog watchdog({&a.io, &b.io}, 20ms, [&pings] { ++pings; });
  CHECK(pings_within(pings, 300ms) >= 5);

  // b runs one handler that does not return until released: a wedged loop.
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> entered;
  asio::post(b.io, [released, &entered] {
    entered.set_value();
    released.wait();
  });
  entered.get_future().wait();
  std::this_thread::sleep_for(60ms);  // a ping already on its way may land
  CHECK(pings_within(pings, 300ms) == 0);

  release.set_value();
  CHECK(pings_within(pings, 300ms) >= 5);
}

TEST_CASE("systemd watchdog: without WATCHDOG_USEC there is none") {
  ::unsetenv("WATCHDOG_USEC");
  RunningLoop a;
  CHECK(relay::server::systemd::LoopWatchdog::from_environment({&a.io}) == nullptr);
}
