// LogWriter (see log_writer.hpp).
#include "relay/proxy/log_writer.hpp"

#include <chrono>

#include "relay/util/log.hpp"

namespace relay::proxy {

namespace {
std::atomic<std::uint64_t> next_id{1};
constexpr auto batch_interval = std::chrono::milliseconds(50);
}  // namespace

LogWriter::LogWriter(std::function<void(std::string_view batch)> write)
    : write_(std::move(write)), id_(next_id.fetch_add(1)), thread_([this] { run(); }) {}

LogWriter::~LogWriter() {
  {
    std::lock_guard lock(wake_mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  drain();
}

LogWriter::Buffer& LogWriter::buffer_of_this_thread() {
  thread_local std::uint64_t cached_for = 0;
  thread_local Buffer* cached = nullptr;
  if (cached_for == id_) return *cached;
  std::lock_guard lock(buffers_mutex_);
  buffers_.push_back(std::make_unique<Buffer>());
  cached_for = id_;
  cached = buffers_.back().get();
  return *cached;
}

void LogWriter::add(std::string_view line) {
  auto& buffer = buffer_of_this_thread();
  std::size_t size;
  {
    std::lock_guard lock(buffer.mutex);
    if (buffer.lines.size() + line.size() > per_thread_limit) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    buffer.lines.append(line);
    size = buffer.lines.size();
  }
  if (size >= wake_at && !urgent_.exchange(true)) wake_.notify_one();
}

void LogWriter::drain() {
  std::lock_guard draining(drain_mutex_);
  snapshot_.clear();
  {
    std::lock_guard lock(buffers_mutex_);
    for (const auto& b : buffers_) snapshot_.push_back(b.get());
  }
  for (auto* buffer : snapshot_) {
    {
      std::lock_guard lock(buffer->mutex);
      spare_.swap(buffer->lines);  // the thread goes on with an empty buffer
    }
    batch_.append(spare_);
    spare_.clear();
  }
  if (!batch_.empty()) write_(batch_);
  batch_.clear();
  if (const auto dropped = dropped_.load(std::memory_order_relaxed); dropped != reported_) {
    log::warn("access log: ", dropped - reported_, " lines dropped, the log's output does not keep up");
    reported_ = dropped;
  }
}

void LogWriter::run() {
  std::unique_lock lock(wake_mutex_);
  while (!stop_) {
    wake_.wait_for(lock, batch_interval, [this] { return stop_ || urgent_.load(); });
    urgent_ = false;
    lock.unlock();
    drain();
    lock.lock();
  }
}

}  // namespace relay::proxy
