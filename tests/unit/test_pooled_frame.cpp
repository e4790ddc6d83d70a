// Pooled coroutine frames (util/pooled_frame.hpp): an opted-in class's
// coroutines behave as Asio's (values, exceptions, awaiting and being awaited
// by ordinary awaitables, timers), and a finished frame's block is what the
// next coroutine of that size gets, on its thread.
#include <doctest/doctest.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "relay/util/pooled_frame.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
struct Worker {
  using coroutine_frames = relay::util::PooledFrames;

  // A frame past Asio's 1020-byte recycling, as the request path's are.
  asio::awaitable<std::uintptr_t> big_frame(int fill) {
    std::array<char, 2500> scratch{};
    std::memset(scratch.data(), fill, scratch.size());
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return reinterpret_cast<std::uintptr_t>(scratch.data()) + static_cast<unsigned char>(scratch[fill % 2500]) * 0;
  }

  // Larger than the pool keeps: plain operator new, still correct.
  asio::awaitable<int> huge_frame() {
    std::array<char, 20000> scratch{};
    scratch[19999] = 7;
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return scratch[19999];
  }

  asio::awaitable<int> fails() {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    throw std::runtime_error("refused");
  }

  asio::awaitable<int> awaits_plain_and_pooled();
  asio::awaitable<void> waits(std::chrono::milliseconds delay, bool& done) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
    done = true;
  }
};

asio::awaitable<int> plain_answer() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  co_return 40;
}
}  // namespace

static_assert(std::is_same_v<std::coroutine_traits<asio::awaitable<int>, Worker&>::promise_type,
                             relay::util::PooledFrame<int, asio::any_io_executor>>);
static_assert(std::is_same_v<std::coroutine_traits<asio::awaitable<int>, int>::promise_type,
                             asio::detail::awaitable_frame<int, asio::any_io_executor>>);

asio::awaitable<int> Worker::awaits_plain_and_pooled() {
  int plain = co_await plain_answer();
  int huge = co_await huge_frame();
  try {
    co_await fails();
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()) == "refused") plain += 2;
  }
  co_return plain + huge - 7;
}

namespace {
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  auto result = asio::co_spawn(io, std::move(task), asio::use_future);
  io.restart();
  io.run();
  return result.get();
}

// An ordinary coroutine awaiting a pooled one.
asio::awaitable<int> plain_caller(Worker& worker) {
  co_return co_await worker.awaits_plain_and_pooled();
}
}  // namespace

TEST_CASE("pooled frames: values, exceptions and awaiting both ways") {
  asio::io_context io;
  Worker worker;
  CHECK(run(io, worker.awaits_plain_and_pooled()) == 42);
  CHECK(run(io, plain_caller(worker)) == 42);
  CHECK_THROWS_WITH_AS(run(io, worker.fails()), "refused", std::runtime_error);
  bool done = false;
  run(io, worker.waits(1ms, done));
  CHECK(done);
}

TEST_CASE("pooled frames: a finished frame is reused by the next one on its thread") {
  asio::io_context io;
  Worker worker;
  const auto first = run(io, worker.big_frame(1));
  for (int i = 2; i < 50; ++i) CHECK(run(io, worker.big_frame(i)) == first);
  // Two alive at once take two blocks; both come back.
  auto a = asio::co_spawn(io, worker.big_frame(3), asio::use_future);
  auto b = asio::co_spawn(io, worker.big_frame(4), asio::use_future);
  io.restart();
  io.run();
  const auto one = a.get(), other = b.get();
  CHECK(one != other);
  CHECK((one == first || other == first));
}

TEST_CASE("pooled frames: a frame freed on another thread than its own") {
  // Frames started on one thread and finished on another (a coroutine can
  // move between io_contexts' threads): neither thread's lists lose a block
  // or hand one out twice.
  asio::io_context io;
  Worker worker;
  std::vector<std::thread> threads;
  std::atomic<int> answers{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        asio::io_context local;
        if (run(local, worker.awaits_plain_and_pooled()) == 42) ++answers;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(answers == 800);
  // And one io_context run by two threads, so frames finish where they may.
  std::atomic<int> finished{0};
  for (int i = 0; i < 400; ++i)
    asio::co_spawn(io, worker.big_frame(i), [&](std::exception_ptr e, std::uintptr_t) { finished += e ? 0 : 1; });
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  CHECK(finished == 400);
}
