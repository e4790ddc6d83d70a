// One libcurl multi handle driven by one Asio event loop (the
// "multi_socket" API): curl tells us which sockets to watch and when to
// wake it; Asio waits; we call curl_multi_socket_action. No thread per
// request, and curl's connection cache gives pooled keep-alive connections.
//
// Origin connections are capped per loop: the loop's share of
// upstream.max_connections is both curl's CURLMOPT_MAX_TOTAL_CONNECTIONS
// (in use + idle) and the number of Slots; a transfer holds a Slot from
// before it is added until curl is done with it, so curl never has to queue
// one itself. Requests beyond that wait here, first come first served, for
// at most upstream.queue_timeout.
//
// Invariants: every curl call happens on this loop's thread; curl's sockets
// are watched through descriptors that are released, never closed, by us;
// curl_multi_socket_action is never called from inside a curl callback;
// slots in use <= share, and a waiter is queued only while none is free.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "relay/config/config.hpp"
#include "relay/util/result.hpp"

namespace relay::upstream {

// Implemented by whoever owns an easy handle added to the multi.
class TransferSink {
 public:
  virtual ~TransferSink() = default;
  // The transfer ended (curl's CURLcode); the handle is already removed.
  virtual void on_done(int curl_code) = 0;
};

class CurlMulti {
 public:
  // connections: this loop's share of upstream.max_connections (>= 1).
  CurlMulti(boost::asio::io_context& io, const config::UpstreamConfig& cfg, std::size_t connections);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // The right to use one origin connection; released when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : multi_(std::exchange(other.multi_, nullptr)) {}
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        release();
        multi_ = std::exchange(other.multi_, nullptr);
      }
      return *this;
    }
    ~Slot() { release(); }
    void release() {
      if (multi_) std::exchange(multi_, nullptr)->release_slot();
    }

   private:
    friend class CurlMulti;
    explicit Slot(CurlMulti* multi) : multi_(multi) {}
    CurlMulti* multi_ = nullptr;
  };

  // A free slot at once, or after waiting in line; upstream_queue_timeout
  // when none came within upstream.queue_timeout.
  boost::asio::awaitable<Result<Slot>> acquire_slot();
  std::size_t slots_in_use() const noexcept { return in_use_; }
  // A reload: a new share of upstream.max_connections and a new
  // upstream.queue_timeout, for the requests that ask from now on.
  void set_limits(std::size_t connections, config::Duration queue_timeout);
  std::size_t queued() const noexcept { return waiters_.size(); }

  // Told when a request starts waiting for a slot, and when it stops
  // (granted or timed out), e.g. for metrics. Called on this loop's thread.
  std::function<void()> on_queue_enter;
  std::function<void(bool granted)> on_queue_leave;

  // The easy handle's CURLOPT_PRIVATE must point at its TransferSink.
  void add(CURL* easy);
  // Safe for handles that already finished.
  void remove(CURL* easy);

  // Easy handles are recycled: reset, but their DNS and TLS caches stay.
  CURL* acquire_easy();
  void release_easy(CURL* easy);

  boost::asio::io_context& io() noexcept { return io_; }

 private:
  struct Watch;
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void update_watch(int fd, int what);
  void arm(const std::shared_ptr<Watch>& watch);
  void socket_action(int fd, int events);
  void drain_messages();

  struct Waiter;
  void release_slot();
  // The first waiter gets a slot already counted in in_use_.
  void grant_next();
  void cap_connections();
  void wait_for_timeout(std::chrono::steady_clock::time_point when);

  boost::asio::io_context& io_;
  std::size_t slots_;
  config::Duration queue_timeout_;
  std::size_t in_use_ = 0;
  std::deque<Waiter*> waiters_;
  CURLM* multi_;
  boost::asio::steady_timer timer_;
  // When curl wants its timeout action (max: never). The timer is re-armed
  // only when curl moves it earlier: curl moves it later on nearly every
  // read, and cancelling and re-arming each time cost a timerfd_settime
  // call per chunk. A wait that wakes too early sleeps again until it.
  using TimePoint = std::chrono::steady_clock::time_point;
  TimePoint timeout_due_ = TimePoint::max();
  bool timer_waiting_ = false;
  bool timeout_posted_ = false;                           // a 0 ms timeout is queued on the loop
  std::shared_ptr<void> alive_ = std::make_shared<int>(0);  // what posted work checks first
  std::unordered_map<int, std::shared_ptr<Watch>> watches_;
  std::vector<CURL*> idle_easies_;
};

}  // namespace relay::upstream
