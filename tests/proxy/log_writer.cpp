// The access log's writer thread (log_writer.hpp): every line from every
// thread written once, each thread's in order; lines go out without an
// exit; and a stuck output drops lines (counted) instead of blocking.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "relay/proxy/log_writer.hpp"

using namespace relay::proxy;
using namespace std::chrono_literals;

TEST_CASE("log writer: every line of two threads written once, each thread's in order") {
  std::mutex mutex;
  std::string out;
  {
    LogWriter writer([&](std::string_view batch) {
      std::lock_guard lock(mutex);
      out.append(batch);
    });
    auto produce = [&writer](char tag) {
      std::string line;
      for (int i = 0; i < 20000; ++i) {
        line.assign(1, tag);
        line.append(std::to_string(i)).push_back('\n');
        writer.add(line);
      }
    };
    std::thread a(produce, 'a'), b(produce, 'b');
    a.join();
    b.join();
  }  // destroyed: what was buffered is written
  std::istringstream lines(out);
  std::string line;
  int next_a = 0, next_b = 0;
  while (std::getline(lines, line)) {
    REQUIRE(!line.empty());
    int& next = line[0] == 'a' ? next_a : next_b;
    CHECK(line.substr(1) == std::to_string(next));
    ++next;
  }
  CHECK(next_a == 20000);
  CHECK(next_b == 20000);
}

TEST_CASE("log writer: lines go out within a moment, not only at exit") {
  std::mutex mutex;
  std::condition_variable written;
  std::string out;
  LogWriter writer([&](std::string_view batch) {
    std::lock_guard lock(mutex);
    out.append(batch);
    written.notify_all();
  });
  writer.add("one\n");
  std::unique_lock lock(mutex);
  CHECK(written.wait_for(lock, 2s, [&] { return out == "one\n"; }));
}

TEST_CASE("log writer: an output that does not keep up costs dropped lines, never a blocked caller") {
  std::mutex gate;
  gate.lock();  // the output is stuck until the end of the test
  std::size_t written = 0;
  LogWriter writer([&](std::string_view batch) {
    std::lock_guard wait(gate);
    written += batch.size();
  });
  const std::string line(1000, 'x');
  const auto started = std::chrono::steady_clock::now();
  // Twice what one thread may hold: the writer takes one buffer's worth and
  // blocks on the output; the rest overflows.
  for (std::size_t i = 0; i < 3 * LogWriter::per_thread_limit / line.size(); ++i) writer.add(line);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(writer.dropped() > 0);
  gate.unlock();
}
