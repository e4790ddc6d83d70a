// Test doubles for the request path, so it runs without sockets (Envoy's
// fake HttpSource idea): a scripted BodySource, a recording ResponseSink,
// a recording BodyWriter, a scriptable fleet lock, and run() to drive a
// coroutine to its end on a private io_context.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "relay/http/body.hpp"
#include "relay/storage/distributed_lock.hpp"
#include "relay/storage/storage.hpp"

namespace relay::test {

enum class Until { Idle, Done };

// Drives `task` on io: until the loop runs dry (Idle), or only until the
// task ends (Done), for tasks that leave background work behind (a fleet
// lock's heartbeat).
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task, Until until = Until::Idle) {
  std::optional<T> out;
  std::exception_ptr failure;
  bool done = false;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    failure = e;
    if (!e) out = std::move(value);
    done = true;
  });
  io.restart();
  if (until == Until::Idle) io.run();
  while (!done && io.run_one() > 0) {
  }
  if (failure) std::rethrow_exception(failure);
  return std::move(*out);
}

inline void run(boost::asio::io_context& io, boost::asio::awaitable<void> task, Until until = Until::Idle) {
  auto as_value = [](boost::asio::awaitable<void> t) -> boost::asio::awaitable<bool> {
    co_await std::move(t);
    co_return true;
  };
  run(io, as_value(std::move(task)), until);
}

// Yields the scripted chunks in order, then the end, or `fail_with` after them.
class ScriptedSource final : public http::BodySource {
 public:
  explicit ScriptedSource(std::vector<std::string> chunks, std::optional<Errc> fail_with = std::nullopt)
      : chunks_(chunks.begin(), chunks.end()), fail_with_(fail_with) {}
  boost::asio::awaitable<Result<std::span<const char>>> read() override {
    ++reads;
    if (chunks_.empty()) {
      if (fail_with_) co_return make_error_code(*fail_with_);
      co_return std::span<const char>{};
    }
    current_ = std::move(chunks_.front());
    chunks_.pop_front();
    co_return std::span<const char>(current_.data(), current_.size());
  }
  int reads = 0;

 private:
  std::deque<std::string> chunks_;
  std::optional<Errc> fail_with_;
  std::string current_;
};

// Records what a client would have received; `accept_bytes` makes it leave
// (writes fail) once that many body bytes were written.
class RecordingSink final : public http::ResponseSink {
 public:
  boost::asio::awaitable<void> interim(const http::ResponseHead& head) override {
    interims.push_back(head.status);
    co_return;
  }
  boost::asio::awaitable<Result<void>> write_head(http::ResponseHead h, std::optional<std::uint64_t> length) override {
    head = std::move(h);
    content_length = length;
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<void>> write_body(std::span<const char> chunk) override {
    if (gone || body.size() + chunk.size() > accept_bytes) {
      gone = true;
      co_return make_error_code(Errc::client_closed);
    }
    body.append(chunk.data(), chunk.size());
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<void>> finish() override {
    finished = true;
    co_return Result<void>{};
  }
  void abort() noexcept override { aborted = true; }
  boost::asio::awaitable<Result<void>> write_simple(int status, std::string_view type, std::string_view text,
                                                    http::Headers extra) override {
    head = http::ResponseHead{status, "", std::move(extra)};
    content_type.assign(type);
    body.assign(text);
    finished = true;
    co_return Result<void>{};
  }
  // No connection to hand over: request-path tests never switch protocols.
  boost::asio::awaitable<Result<http::ByteStream*>> switch_protocols(http::ResponseHead) override {
    co_return make_error_code(Errc::bad_request);
  }
  bool can_switch_protocols() const noexcept override { return false; }
  bool head_sent() const noexcept override { return head.has_value(); }
  int status() const noexcept override { return head ? head->status : 0; }
  std::uint64_t body_bytes() const noexcept override { return body.size(); }

  std::optional<http::ResponseHead> head;
  std::optional<std::uint64_t> content_length;
  std::vector<int> interims;
  std::string body;
  std::string content_type;  // of a write_simple answer
  std::size_t accept_bytes = std::string::npos;
  bool gone = false, finished = false, aborted = false;
};

// A storage writer that keeps what it is given; fails past `limit` bytes.
class RecordingWriter final : public storage::BodyWriter {
 public:
  boost::asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    if (bytes.size() + chunk.size() > limit) co_return make_error_code(Errc::object_too_large);
    bytes.append(chunk.data(), chunk.size());
    if (fd_ >= 0 && ::write(fd_, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size()))
      co_return make_error_code(Errc::storage_unavailable);
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<void>> commit() override {
    committed = true;
    co_return Result<void>{};
  }
  // keep_in_file(): also writes every byte to a memfd, as the memory store
  // does with a large body, and offers it as body_fd().
  void keep_in_file() { fd_ = ::memfd_create("recording-writer", MFD_CLOEXEC); }
  int body_fd() const noexcept override { return fd_; }
  ~RecordingWriter() override {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string bytes;
  std::size_t limit = std::string::npos;
  bool committed = false;

 private:
  int fd_ = -1;
};

// The fleet lock as a script: what each try_acquire answers, in order
// (the last answer repeats). nullopt = held by another instance.
class ScriptedLock final : public storage::DistributedLock {
 public:
  enum class Answer { Acquired, Taken, Unavailable };
  explicit ScriptedLock(std::vector<Answer> answers) : answers_(std::move(answers)) {}
  boost::asio::awaitable<Result<std::optional<Held>>> try_acquire(const std::string& name,
                                                                  std::chrono::milliseconds) override {
    auto answer = answers_[std::min(attempts, answers_.size() - 1)];
    ++attempts;
    if (answer == Answer::Unavailable) co_return make_error_code(Errc::storage_unavailable);
    if (answer == Answer::Taken) co_return std::optional<Held>{};
    co_return std::optional<Held>{Held{name, "token"}};
  }
  boost::asio::awaitable<Result<bool>> extend(const Held&, std::chrono::milliseconds) override {
    ++extends;
    co_return true;
  }
  boost::asio::awaitable<void> release(const Held&) override {
    ++releases;
    co_return;
  }
  std::size_t attempts = 0;
  int extends = 0;
  int releases = 0;

 private:
  std::vector<Answer> answers_;
};

}  // namespace relay::test
