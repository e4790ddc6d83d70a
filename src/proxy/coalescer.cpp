// Fill and Coalescer (see coalescer.hpp). Locks are held only to copy
// pointers and flags; waking a follower is a post to its own event loop.
#include "relay/proxy/coalescer.hpp"

#include <boost/asio/post.hpp>

namespace relay::proxy {

void Fill::publish_head(http::ResponseHead head, std::optional<std::uint64_t> content_length,
                        std::string variant) {
  std::lock_guard lock(mutex_);
  head_ = std::move(head);
  content_length_ = content_length;
  variant_ = std::move(variant);
  state_ = FillState::Streaming;
  notify_locked();
}

void Fill::append(std::span<const char> chunk) {
  // Outside the fill's lock: followers keep reading what is there meanwhile.
  bool kept = spool_.append(chunk);
  std::lock_guard lock(mutex_);
  if (!kept && (state_ == FillState::Pending || state_ == FillState::Streaming)) state_ = FillState::Failed;
  notify_locked();
}

void Fill::complete() {
  std::lock_guard lock(mutex_);
  if (state_ == FillState::Streaming) state_ = FillState::Complete;
  notify_locked();
}

void Fill::fail() {
  std::lock_guard lock(mutex_);
  if (state_ == FillState::Pending || state_ == FillState::Streaming) state_ = FillState::Failed;
  notify_locked();
}

void Fill::release(Release why) {
  std::lock_guard lock(mutex_);
  if (state_ != FillState::Pending) return;  // followers already stream: they finish with the fill
  state_ = FillState::Released;
  release_ = why;
  notify_locked();
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
  {
    std::lock_guard lock(mutex_);
    s.state = state_;
    s.release = release_;
  }
  // The state is taken first: bytes appended after it only make a Complete
  // snapshot look unfinished for one more round, never the reverse.
  if (offset < spool_.size()) {
    s.data = spool_.read(offset, buffer, hold);
    s.unreadable = s.data.empty();
  }
  return s;
}

void Fill::subscribe(const boost::asio::any_io_executor& executor, std::shared_ptr<AsyncEvent> event) {
  std::lock_guard lock(mutex_);
  subscribers_.push_back({executor, event});
}

std::size_t Fill::followers() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

void Fill::notify_locked() {
  for (const auto& s : subscribers_) {
    boost::asio::post(s.executor, [event = s.event] {
      if (auto e = event.lock()) e->notify();
    });
  }
}

Coalescer::Ticket Coalescer::join(const std::string& key) {
  if (!settings_.enabled) return {};
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (auto it = uncacheable_until_.find(key); it != uncacheable_until_.end()) {
    if (it->second > now) return {};
    uncacheable_until_.erase(it);
  }
  auto& slot = fills_[key];
  if (slot && now - slot->started() < settings_.max_fill_age) return {Role::Follower, slot};
  // No fill, or one too old to wait for: this request fills (the old one
  // carries on for the followers it has).
  bool replaced = slot != nullptr;
  slot = std::make_shared<Fill>(key, settings_.spool_dir, settings_.spool_memory);
  return {Role::Writer, slot, replaced};
}

void Coalescer::finish(const std::shared_ptr<Fill>& fill, bool uncacheable) {
  std::lock_guard lock(mutex_);
  if (auto it = fills_.find(fill->key()); it != fills_.end() && it->second == fill) fills_.erase(it);
  if (uncacheable) {
    uncacheable_until_[fill->key()] = std::chrono::steady_clock::now() + settings_.hit_for_miss;
    // Bounded: expired marks are dropped as the table grows.
    if (uncacheable_until_.size() > 100'000) {
      auto now = std::chrono::steady_clock::now();
      std::erase_if(uncacheable_until_, [now](const auto& entry) { return entry.second <= now; });
    }
  }
}

FillGuard& FillGuard::operator=(FillGuard&& other) noexcept {
  if (this != &other) {
    finish();
    coalescer_ = other.coalescer_;
    fill_ = std::move(other.fill_);
    other.coalescer_ = nullptr;
  }
  return *this;
}

FillGuard::~FillGuard() { finish(); }

void FillGuard::finish(bool uncacheable) {
  if (!fill_) return;
  fill_->fail();  // no-op when the writer completed or released it
  coalescer_->finish(fill_, uncacheable);
  fill_.reset();
}

}  // namespace relay::proxy
