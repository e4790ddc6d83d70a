// libcurl multi_socket glue for Asio. Socket readiness and curl's timer are
// turned into curl_multi_socket_action calls; finished transfers are handed
// to their TransferSink.
#include "relay/upstream/curl_multi.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <algorithm>

#include "relay/util/async_event.hpp"
#include "relay/util/log.hpp"

namespace relay::upstream {

// One request waiting for a slot; it leaves the line when granted, when its
// wait times out, or when its coroutine goes away.
struct CurlMulti::Waiter {
  explicit Waiter(CurlMulti& multi) : multi(multi), event(multi.io_.get_executor()) {}
  ~Waiter() {
    auto& line = multi.waiters_;
    line.erase(std::remove(line.begin(), line.end(), this), line.end());
    if (granted && !taken) multi.release_slot();  // granted to a coroutine that is gone
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  CurlMulti& multi;
  AsyncEvent event;
  bool granted = false;
  bool taken = false;
};

struct CurlMulti::Watch {
  Watch(boost::asio::io_context& io, int fd) : fd(fd), descriptor(io, fd) {}
  int fd;
  boost::asio::posix::stream_descriptor descriptor;
  int what = 0;  // CURL_POLL_*
  bool reading = false;
  bool writing = false;
  bool removed = false;
};

namespace {
struct GlobalInit {
  GlobalInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
}  // namespace

CurlMulti::CurlMulti(boost::asio::io_context& io, const config::UpstreamConfig& cfg, std::size_t connections)
    : io_(io), slots_(std::max<std::size_t>(1, connections)), queue_timeout_(cfg.queue_timeout), timer_(io) {
  static GlobalInit init;
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  cap_connections();
}

void CurlMulti::cap_connections() {
  // MAXCONNECTS alone only sizes the idle cache; MAX_TOTAL_CONNECTIONS caps
  // what is open, in use or idle, so the origin never sees more than the share.
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(slots_));
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(slots_));
}

void CurlMulti::set_limits(std::size_t connections, config::Duration queue_timeout) {
  slots_ = std::max<std::size_t>(1, connections);
  queue_timeout_ = queue_timeout;
  cap_connections();
  // More slots: the first in line take them now. Fewer: in_use_ shrinks as
  // transfers end (release_slot hands none over while above the share).
  while (in_use_ < slots_ && !waiters_.empty()) {
    ++in_use_;
    grant_next();
  }
}

boost::asio::awaitable<Result<CurlMulti::Slot>> CurlMulti::acquire_slot() {
  if (in_use_ < slots_ && waiters_.empty()) {
    ++in_use_;
    co_return Slot(this);
  }
  Waiter waiter(*this);
  waiters_.push_back(&waiter);
  if (on_queue_enter) on_queue_enter();
  auto deadline = AsyncEvent::clock::now() + queue_timeout_;
  while (!waiter.granted) {
    if (!co_await waiter.event.wait_until(deadline) && !waiter.granted) break;
  }
  if (on_queue_leave) on_queue_leave(waiter.granted);
  if (!waiter.granted) co_return make_error_code(Errc::upstream_queue_timeout);
  waiter.taken = true;
  co_return Slot(this);
}

void CurlMulti::release_slot() {
  if (waiters_.empty() || in_use_ > slots_) {
    --in_use_;
    return;
  }
  // Handed straight to the first in line: in_use_ stays, nobody overtakes it.
  grant_next();
}

void CurlMulti::grant_next() {
  Waiter* next = waiters_.front();
  waiters_.pop_front();
  next->granted = true;
  next->event.notify();
}

CurlMulti::~CurlMulti() {
  timer_.cancel();
  for (auto& [fd, watch] : watches_) {
    watch->removed = true;
    watch->descriptor.release();
  }
  watches_.clear();
  for (auto* easy : idle_easies_) curl_easy_cleanup(easy);
  curl_multi_cleanup(multi_);
}

void CurlMulti::add(CURL* easy) { curl_multi_add_handle(multi_, easy); }

void CurlMulti::remove(CURL* easy) { curl_multi_remove_handle(multi_, easy); }

CURL* CurlMulti::acquire_easy() {
  if (idle_easies_.empty()) return curl_easy_init();
  CURL* easy = idle_easies_.back();
  idle_easies_.pop_back();
  curl_easy_reset(easy);
  return easy;
}

void CurlMulti::release_easy(CURL* easy) {
  constexpr std::size_t max_idle = 256;
  if (idle_easies_.size() < max_idle) {
    idle_easies_.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  static_cast<CurlMulti*>(self)->update_watch(fd, what);
  return 0;
}

void CurlMulti::update_watch(int fd, int what) {
  auto found = watches_.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (found == watches_.end()) return;
    auto& watch = found->second;
    watch->removed = true;
    // curl closes the socket itself right after this: give it back untouched.
    boost::system::error_code ignored;
    watch->descriptor.cancel(ignored);
    watch->descriptor.release();
    watches_.erase(found);
    return;
  }
  if (found == watches_.end()) {
    found = watches_.emplace(fd, std::make_shared<Watch>(io_, fd)).first;
  }
  found->second->what = what;
  arm(found->second);
}

void CurlMulti::arm(const std::shared_ptr<Watch>& watch) {
  using wait = boost::asio::posix::stream_descriptor::wait_type;
  if ((watch->what & CURL_POLL_IN) && !watch->reading) {
    watch->reading = true;
    watch->descriptor.async_wait(wait::wait_read, [this, watch](const boost::system::error_code& ec) {
      watch->reading = false;
      if (ec || watch->removed) return;
      socket_action(watch->fd, CURL_CSELECT_IN);
      if (!watch->removed) arm(watch);
    });
  }
  if ((watch->what & CURL_POLL_OUT) && !watch->writing) {
    watch->writing = true;
    watch->descriptor.async_wait(wait::wait_write, [this, watch](const boost::system::error_code& ec) {
      watch->writing = false;
      if (ec || watch->removed) return;
      socket_action(watch->fd, CURL_CSELECT_OUT);
      if (!watch->removed) arm(watch);
    });
  }
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* self) {
  auto* me = static_cast<CurlMulti*>(self);
  if (timeout_ms < 0) {
    me->timeout_due_ = TimePoint::max();  // a wait still pending wakes once and finds nothing due
    return 0;
  }
  const auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  me->timeout_due_ = due;
  // Even a 0 ms timeout goes through the loop: acting here would re-enter
  // curl. It is posted, not timed: curl asks for one after most reads.
  if (timeout_ms == 0) {
    if (!me->timeout_posted_) {
      me->timeout_posted_ = true;
      boost::asio::post(me->io_, [me, alive = std::weak_ptr<void>(me->alive_)] {
        if (alive.expired()) return;
        me->timeout_posted_ = false;
        if (me->timeout_due_ > std::chrono::steady_clock::now()) return;  // moved later meanwhile
        me->timeout_due_ = TimePoint::max();
        me->socket_action(CURL_SOCKET_TIMEOUT, 0);
      });
    }
    return 0;
  }
  if (me->timer_waiting_ && me->timer_.expiry() <= due) return 0;  // it wakes first, then waits the rest
  me->wait_for_timeout(due);
  return 0;
}

void CurlMulti::wait_for_timeout(TimePoint when) {
  timer_.expires_at(when);  // a pending wait ends with operation_aborted
  timer_waiting_ = true;
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // replaced by an earlier wait, or shut down
    timer_waiting_ = false;
    if (timeout_due_ == TimePoint::max()) return;
    if (std::chrono::steady_clock::now() < timeout_due_) return wait_for_timeout(timeout_due_);
    timeout_due_ = TimePoint::max();
    socket_action(CURL_SOCKET_TIMEOUT, 0);
  });
}

void CurlMulti::socket_action(int fd, int events) {
  int running = 0;
  auto rc = curl_multi_socket_action(multi_, fd, events, &running);
  if (rc != CURLM_OK) log::error("curl_multi_socket_action: ", curl_multi_strerror(rc));
  drain_messages();
}

void CurlMulti::drain_messages() {
  int pending = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &pending)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    // The result lives in msg, which remove_handle invalidates: read it first.
    int code = msg->data.result;
    TransferSink* sink = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&sink));
    curl_multi_remove_handle(multi_, easy);
    if (sink) sink->on_done(code);
  }
}

}  // namespace relay::upstream
