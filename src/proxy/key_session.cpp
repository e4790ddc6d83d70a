// Fill, Subscription, WritePermit and the local half of KeySessions (see
// key_session.hpp). Locks are held only to copy pointers and flags; waking
// a follower is a try_send on its channel, which completes its wait on its
// own executor.
#include "relay/proxy/key_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>

#include "relay/metrics/metrics.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

// One follower's wake-up: a channel of capacity one, so any number of
// notifications while it is busy collapse into one; the follower re-reads
// the fill's state after each.
class Wakeup {
 public:
  explicit Wakeup(const asio::any_io_executor& executor) : channel_(executor, 1), timer_(executor) {}

  void notify() { channel_.try_send(boost::system::error_code{}); }

  // False when the deadline passed without a notification.
  asio::awaitable<bool> wait_until(steady::time_point deadline) {
    using namespace asio::experimental::awaitable_operators;
    timer_.expires_at(deadline);
    auto woken = co_await (channel_.async_receive(asio::as_tuple(asio::use_awaitable)) ||
                           timer_.async_wait(asio::as_tuple(asio::use_awaitable)));
    co_return woken.index() == 0;
  }

 private:
  asio::experimental::concurrent_channel<void(boost::system::error_code)> channel_;
  asio::steady_timer timer_;
};

// ---- Fill ------------------------------------------------------------------

void Fill::move_to_locked(FillState next) {
  [[maybe_unused]] auto allowed = [&] {
    switch (state_) {
      case FillState::Pending: return next != FillState::Complete;
      case FillState::Streaming: return next == FillState::Complete || next == FillState::Failed;
      default: return false;  // terminal
    }
  };
  assert(allowed());
  state_ = next;
  notify_locked();
}

void Fill::publish_head(http::ResponseHead head, std::optional<std::uint64_t> content_length, std::string variant) {
  std::lock_guard lock(mutex_);
  head_ = std::move(head);
  content_length_ = content_length;
  variant_ = std::move(variant);
  move_to_locked(FillState::Streaming);
}

void Fill::append(std::span<const char> chunk, int store_fd) {
  // Outside the fill's lock: followers keep reading what is there meanwhile.
  bool kept = spool_.append(chunk, store_fd);
  std::lock_guard lock(mutex_);
  if (!kept && state_ == FillState::Streaming) {
    move_to_locked(FillState::Failed);
    return;
  }
  notify_locked();
}

void Fill::complete() {
  std::lock_guard lock(mutex_);
  if (state_ == FillState::Streaming) move_to_locked(FillState::Complete);
}

void Fill::fail() {
  std::lock_guard lock(mutex_);
  if (state_ == FillState::Pending || state_ == FillState::Streaming) move_to_locked(FillState::Failed);
}

void Fill::release(Release why) {
  std::lock_guard lock(mutex_);
  if (state_ != FillState::Pending) return;  // followers already stream: they finish with the fill
  release_ = why;
  move_to_locked(FillState::Released);
}

void Fill::await_peer() {
  std::lock_guard lock(mutex_);
  awaiting_peer_ = true;
}

void Fill::fetch_here() {
  std::lock_guard lock(mutex_);
  if (!awaiting_peer_) return;
  awaiting_peer_ = false;
  fetching_since_ = clock::now();
  notify_locked();  // followers measure their patience from now
}

bool Fill::awaiting_peer() const {
  std::lock_guard lock(mutex_);
  return awaiting_peer_;
}

Fill::clock::time_point Fill::fetching_since() const {
  std::lock_guard lock(mutex_);
  return fetching_since_;
}

FillState Fill::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

Release Fill::release_reason() const {
  std::lock_guard lock(mutex_);
  return release_;
}

Fill::Snapshot Fill::read(std::uint64_t offset, std::string& buffer, std::shared_ptr<const std::string>& hold) const {
  Snapshot s;
  s.state = state();
  // The state is taken first: bytes appended after it only make a Complete
  // snapshot look unfinished for one more round, never the reverse.
  if (offset < spool_.size()) {
    s.data = spool_.read(offset, buffer, hold);
    s.unreadable = s.data.empty();
  }
  return s;
}

std::size_t Fill::followers() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

void Fill::subscribe(const std::shared_ptr<Wakeup>& wakeup) {
  std::lock_guard lock(mutex_);
  subscribers_.push_back(wakeup);
}

void Fill::unsubscribe(const Wakeup* wakeup) {
  std::lock_guard lock(mutex_);
  std::erase_if(subscribers_, [wakeup](const auto& s) { return s.get() == wakeup; });
}

void Fill::notify_locked() {
  for (const auto& s : subscribers_) s->notify();
}

// ---- Subscription ----------------------------------------------------------

Subscription::Subscription(std::shared_ptr<Fill> fill, const asio::any_io_executor& executor)
    : fill_(std::move(fill)), wakeup_(std::make_shared<Wakeup>(executor)) {
  fill_->subscribe(wakeup_);
}

Subscription::Subscription(Subscription&& other) noexcept { *this = std::move(other); }

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    fill_ = std::move(other.fill_);
    wakeup_ = std::move(other.wakeup_);
    idle_timeout_ = other.idle_timeout_;
    offset_ = other.offset_;
    buffer_ = std::move(other.buffer_);
    hold_ = std::move(other.hold_);
  }
  return *this;
}

Subscription::~Subscription() { reset(); }

void Subscription::reset() noexcept {
  if (fill_ && wakeup_) fill_->unsubscribe(wakeup_.get());
  fill_.reset();
  wakeup_.reset();
}

asio::awaitable<FillState> Subscription::wait_for_head(std::chrono::milliseconds patience) {
  const auto joined = steady::now();
  for (;;) {
    auto state = fill_->state();
    if (state != FillState::Pending) co_return state;
    // Re-read after every wake-up: fetch_here() moves the deadline.
    auto deadline = std::max(joined, fill_->fetching_since()) + patience;
    if (fill_->awaiting_peer()) deadline = steady::now() + patience;
    if (steady::now() >= deadline) co_return state;
    co_await wakeup_->wait_until(deadline);
  }
}

asio::awaitable<Result<std::span<const char>>> Subscription::read() {
  for (;;) {
    auto snapshot = fill_->read(offset_, buffer_, hold_);
    if (!snapshot.data.empty()) {
      offset_ += snapshot.data.size();
      co_return snapshot.data;
    }
    if (snapshot.unreadable) co_return make_error_code(Errc::storage_unavailable);
    if (snapshot.state == FillState::Complete) co_return std::span<const char>{};
    // The writer lost the origin mid-body (or its spool failed).
    if (snapshot.state != FillState::Streaming) co_return make_error_code(Errc::upstream_failed);
    if (!co_await wakeup_->wait_until(steady::now() + idle_timeout_) && fill_->state() == FillState::Streaming &&
        fill_->read(offset_, buffer_, hold_).data.empty()) {
      log::warn("coalescing: fill of ", fill_->key(), " stalled, giving up on it");
      co_return make_error_code(Errc::upstream_idle_timeout);
    }
  }
}

// ---- WritePermit -----------------------------------------------------------

WritePermit& WritePermit::operator=(WritePermit&& other) noexcept {
  if (this != &other) {
    finish();
    sessions_ = other.sessions_;
    fill_ = std::move(other.fill_);
    lease_ = std::move(other.lease_);
    other.sessions_ = nullptr;
  }
  return *this;
}

WritePermit::~WritePermit() { finish(); }

void WritePermit::finish(Outcome outcome) {
  if (lease_) {
    lease_->abandon();  // a no-op once released
    lease_.reset();
  }
  if (!fill_) return;
  fill_->fail();  // a no-op once completed or released: only an abandoned fill fails
  sessions_->finished(fill_, outcome == Outcome::Uncacheable);
  fill_.reset();
}

asio::awaitable<void> WritePermit::release_lock() {
  if (!lease_) co_return;
  auto lease = std::move(lease_);
  co_await lease->release();
}

// ---- KeySessions (local) ---------------------------------------------------

KeySessions::Ticket KeySessions::join(const std::string& key, const std::shared_ptr<Fill>& give_up_on) {
  if (!settings_.enabled) return {};
  auto now = clock_();
  std::lock_guard lock(mutex_);
  if (auto it = uncacheable_until_.find(key); it != uncacheable_until_.end()) {
    if (it->second > now) return {};
    uncacheable_until_.erase(it);
  }
  auto& slot = fills_[key];
  const bool given_up = slot && slot == give_up_on;
  if (slot && !given_up && now - slot->started() < settings_.max_fill_age) return {Role::Follower, slot};
  // No fill, one too old to wait for, or one whose follower ran out of
  // patience first: this request fills (the old one carries on for the
  // followers it has).
  if (slot && !given_up && metrics_) metrics_->record_coalesce_timeout("fill_age");
  slot = std::make_shared<Fill>(key, now, settings_.spool_dir, settings_.spool_memory);
  return {Role::Writer, slot};
}

void KeySessions::finished(const std::shared_ptr<Fill>& fill, bool uncacheable) {
  std::lock_guard lock(mutex_);
  if (auto it = fills_.find(fill->key()); it != fills_.end() && it->second == fill) fills_.erase(it);
  if (uncacheable) {
    auto now = clock_();
    uncacheable_until_[fill->key()] = now + settings_.hit_for_miss;
    // Bounded: expired marks are dropped as the table grows.
    if (uncacheable_until_.size() > 100'000) {
      std::erase_if(uncacheable_until_, [now](const auto& entry) { return entry.second <= now; });
    }
  }
}

void KeySessions::detach_fills(
    const std::function<bool(const std::string& key, const http::ResponseHead* head)>& purged) {
  std::lock_guard lock(mutex_);
  std::erase_if(fills_, [&purged](const auto& entry) {
    const auto& fill = *entry.second;
    const bool has_head = fill.state() == FillState::Streaming || fill.state() == FillState::Complete;
    return purged(entry.first, has_head ? &fill.head() : nullptr);
  });
}

std::optional<WritePermit> KeySessions::try_fill(const std::string& key) {
  auto ticket = join(key, nullptr);
  if (ticket.role != Role::Writer) return std::nullopt;
  return WritePermit(*this, std::move(ticket.fill));
}

asio::awaitable<KeySessions::Acquired> KeySessions::acquire(const std::string& key, const PeerProbe& probe,
                                                            const std::shared_ptr<Fill>& give_up_on) {
  auto ticket = join(key, give_up_on);
  Acquired acquired;
  if (ticket.role == Role::Follower) {
    acquired.kind = Acquired::Kind::Follow;
    acquired.follow = Subscription(std::move(ticket.fill), co_await asio::this_coro::executor);
    co_return acquired;
  }
  if (ticket.role == Role::Alone) co_return acquired;
  WritePermit permit(*this, std::move(ticket.fill));
  if (lock_) co_return co_await acquire_across_fleet(key, std::move(permit), probe);
  acquired.kind = Acquired::Kind::Fill;
  acquired.permit = std::move(permit);
  co_return acquired;
}

}  // namespace relay::proxy
