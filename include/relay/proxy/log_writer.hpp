// Lines from every worker thread, written in batches by a thread of its
// own, so that logging a request costs its loop a short append to a buffer
// of its thread (locked only against the writer's swap) and never a write
// to a file or a pipe that may block. The writer thread takes what there
// is every 50 ms, or sooner when a buffer passes 64 KiB. A thread's buffer
// holds at most 8 MiB: lines past it are dropped and counted (a log that
// cannot keep up must not grow without bound or stall requests), and the
// writer says how many. Lines of one thread keep their order; lines of
// different threads interleave by batch, as with nginx's workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace relay::proxy {

class LogWriter {
 public:
  // `write` gets each batch, on the writer thread (or the caller of drain()).
  explicit LogWriter(std::function<void(std::string_view batch)> write);
  ~LogWriter();  // writes what is buffered, then stops
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Any thread; never blocks on I/O.
  void add(std::string_view line);
  // Writes what is buffered now, before returning (a log file's rotation
  // puts the lines logged before it in the old file).
  void drain();
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  static constexpr std::size_t wake_at = 64 * 1024;
  static constexpr std::size_t per_thread_limit = 8 * 1024 * 1024;

 private:
  struct Buffer {
    std::mutex mutex;
    std::string lines;
  };
  Buffer& buffer_of_this_thread();
  void run();

  const std::function<void(std::string_view)> write_;
  const std::uint64_t id_;  // tells a thread's cached buffer from another writer's
  std::mutex buffers_mutex_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::mutex drain_mutex_;   // one drain at a time
  std::string batch_;        // drain's, reused
  // drain's too: the buffer swapped into a thread's place keeps its
  // capacity, so the loop threads append without allocating.
  std::string spare_;
  std::vector<Buffer*> snapshot_;
  std::atomic<std::uint64_t> dropped_{0};
  std::uint64_t reported_ = 0;  // drops already said (drain's)

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> urgent_{false};
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace relay::proxy
