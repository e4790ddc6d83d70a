// Request coalescing: one origin fetch per cache key, however many clients
// ask at once (Varnish's busy objects, nginx's proxy_cache_lock, but the
// followers stream the body as it arrives instead of polling for the end).
//
// A Fill is one in-flight fetch: Pending -> Streaming -> Complete | Failed,
// or Released when its outcome is not something followers can share
// (uncacheable, validated, stale served). The writer publishes the response
// head and body chunks into the Fill's spool; followers on any thread read
// the spool at their own pace and are woken by a post to their own loop.
// The spool (spool.hpp) holds one copy of the body, however many followers
// read it: its head in memory, the rest in a temporary file, so memory stays
// bounded whatever the object size.
//
// Invariants: every Fill reaches a terminal state (the writer's guard fails
// it if the writer goes away), so no key is ever stuck; a fill older than
// max_fill_age no longer takes followers.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/http/response.hpp"
#include "relay/proxy/spool.hpp"
#include "relay/util/async_event.hpp"

namespace relay::proxy {

enum class FillState { Pending, Streaming, Complete, Failed, Released };

// Why followers were released: what they should do instead.
enum class Release {
  FetchAlone,  // not shareable (uncacheable, too large): go to the origin yourself
  Retry,       // the store was updated (304, stale served): look it up again
};

class Fill {
 public:
  using clock = std::chrono::steady_clock;

  Fill(std::string key, std::string spool_dir, std::uint64_t spool_memory)
      : key_(std::move(key)), started_(clock::now()), spool_(std::move(spool_dir), spool_memory) {}

  const std::string& key() const noexcept { return key_; }
  clock::time_point started() const noexcept { return started_; }

  // Writer side.
  // `variant` is the writer's Vary secondary key: followers whose own key
  // differs cannot use this response.
  void publish_head(http::ResponseHead head, std::optional<std::uint64_t> content_length, std::string variant);
  void append(std::span<const char> chunk);
  void complete();
  void fail();
  void release(Release why);

  // Follower side.
  struct Snapshot {
    FillState state = FillState::Pending;
    Release release = Release::FetchAlone;
    std::span<const char> data;  // body bytes from the offset asked for, when there are any
    bool unreadable = false;     // the spool could not be read: give up on this fill
  };
  FillState state() const;
  // The state and the body bytes available from `offset` (see Spool::read
  // for `buffer` and `hold`, which keep them valid).
  Snapshot read(std::uint64_t offset, std::string& buffer, std::shared_ptr<const std::string>& hold) const;
  Release release_reason() const;
  const http::ResponseHead& head() const noexcept { return head_; }  // valid once Streaming
  std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }
  const std::string& variant() const noexcept { return variant_; }
  // Wakes `event` (on `executor`) whenever the fill changes.
  void subscribe(const boost::asio::any_io_executor& executor, std::shared_ptr<AsyncEvent> event);
  std::size_t followers() const;

 private:
  void notify_locked();

  const std::string key_;
  const clock::time_point started_;
  mutable std::mutex mutex_;
  FillState state_ = FillState::Pending;
  Release release_ = Release::FetchAlone;
  http::ResponseHead head_;
  std::optional<std::uint64_t> content_length_;
  std::string variant_;
  Spool spool_;
  struct Subscriber {
    boost::asio::any_io_executor executor;
    std::weak_ptr<AsyncEvent> event;
  };
  std::vector<Subscriber> subscribers_;
};

struct CoalescerSettings {
  bool enabled = true;
  std::chrono::milliseconds follower_timeout{30'000};  // wait for the head before going alone
  std::chrono::milliseconds max_fill_age{60'000};      // older fills take no new followers
  std::chrono::milliseconds hit_for_miss{10'000};      // uncacheable keys skip coalescing this long
  std::string spool_dir = "/tmp";                        // where bodies past spool_memory go
  std::uint64_t spool_memory = 1024 * 1024;             // per fill
};

class Coalescer {
 public:
  explicit Coalescer(CoalescerSettings settings) : settings_(settings) {}

  enum class Role { Writer, Follower, Alone };
  struct Ticket {
    Role role = Role::Alone;
    std::shared_ptr<Fill> fill;
    bool replaced_old_fill = false;  // a fill past max_fill_age was running
  };
  // Become the key's writer, follow its running fill, or (for keys known to
  // be uncacheable, or when disabled) go alone.
  Ticket join(const std::string& key);
  // The writer is done with its fill: the key is free again. `uncacheable`
  // remembers the key for hit_for_miss.
  void finish(const std::shared_ptr<Fill>& fill, bool uncacheable);

  const CoalescerSettings& settings() const noexcept { return settings_; }

 private:
  const CoalescerSettings settings_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Fill>> fills_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> uncacheable_until_;
};

// Held by the writer: whatever happens to it, the fill ends and the key is
// freed (a writer that goes away fails its fill, waking the followers).
class FillGuard {
 public:
  FillGuard(Coalescer& coalescer, std::shared_ptr<Fill> fill) : coalescer_(&coalescer), fill_(std::move(fill)) {}
  FillGuard() = default;
  FillGuard(FillGuard&& other) noexcept { *this = std::move(other); }
  FillGuard& operator=(FillGuard&& other) noexcept;
  ~FillGuard();

  Fill* operator->() const noexcept { return fill_.get(); }
  explicit operator bool() const noexcept { return fill_ != nullptr; }
  // Ends the fill as it stands; `uncacheable` feeds hit-for-miss.
  void finish(bool uncacheable = false);

 private:
  Coalescer* coalescer_ = nullptr;
  std::shared_ptr<Fill> fill_;
};

}  // namespace relay::proxy
