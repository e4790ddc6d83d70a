// One cache session per key: the first request that needs the origin for a
// key fills it, the others follow that fill and stream its body as it
// arrives (Varnish's busy object; nginx's proxy_cache_lock, but followers
// do not wait for the end). Across instances sharing a Redis the same
// happens through a lock there (the fleet strategy, fleet_lock.cpp).
//
// A Fill's states (docs/request-path.md draws them), transitions asserted:
//
//   Pending ──publish_head──▶ Streaming ──complete──▶ Complete
//      │                          └──────fail──────▶ Failed
//      ├──release(Retry | FetchAlone)──▶ Released
//      └──fail / permit dropped────────▶ Failed
//
// The writer holds a WritePermit: dropped without an outcome it fails the
// fill, so no key is ever stuck and its followers compete again. A
// follower holds a Subscription: it counts as a follower exactly as long as
// it exists, so a fill nobody reads any more is not kept running for it.
// Wake-ups go through an Asio channel per follower, on the follower's own
// executor; the body sits once in the fill's Spool, whatever the number of
// followers, so memory stays bounded whatever the object size.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/http/body.hpp"
#include "relay/http/response.hpp"
#include "relay/proxy/lock_lease.hpp"
#include "relay/proxy/spool.hpp"
#include "relay/storage/distributed_lock.hpp"
#include "relay/storage/storage.hpp"

namespace relay::metrics {
class Metrics;
}

namespace relay::proxy {

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

enum class FillState { Pending, Streaming, Complete, Failed, Released };

// Why followers were released before a head: what they do instead.
enum class Release {
  FetchAlone,  // not shareable (uncacheable): go to the origin yourself
  Retry,       // the store was updated (304, stale served): look it up again
};

class Wakeup;

class Fill {
 public:
  using clock = std::chrono::steady_clock;

  Fill(std::string key, clock::time_point started, std::string spool_dir, std::uint64_t spool_memory)
      : key_(std::move(key)), started_(started), spool_(std::move(spool_dir), spool_memory) {}

  const std::string& key() const noexcept { return key_; }
  clock::time_point started() const noexcept { return started_; }

  // Writer side (through its WritePermit).
  // `variant` is the writer's Vary secondary key: followers whose own key
  // differs cannot use this response.
  void publish_head(http::ResponseHead head, std::optional<std::uint64_t> content_length, std::string variant);
  // store_fd: the store's file of the body, holding this chunk already, or
  // -1 (Spool::append).
  void append(std::span<const char> chunk, int store_fd = -1);
  void complete();
  void fail();
  void release(Release why);
  // While the writer waits for another instance's fill (fleet strategy),
  // its followers wait on it, not on their own timeout: the writer's wait
  // is bounded. Once it goes to the origin, their patience starts afresh.
  void await_peer();
  void fetch_here();

  // Follower side.
  struct Snapshot {
    FillState state = FillState::Pending;
    std::span<const char> data;  // body bytes from the offset asked for, when there are any
    bool unreadable = false;     // the spool could not be read: give up on this fill
  };
  FillState state() const;
  Release release_reason() const;
  Snapshot read(std::uint64_t offset, std::string& buffer, std::shared_ptr<const std::string>& hold) const;
  const http::ResponseHead& head() const noexcept { return head_; }  // valid once Streaming
  std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }
  const std::string& variant() const noexcept { return variant_; }
  std::size_t followers() const;
  bool awaiting_peer() const;
  // When this fill started asking the origin after waiting for another
  // instance; the epoch when it asked at once.
  clock::time_point fetching_since() const;

 private:
  friend class Subscription;
  void subscribe(const std::shared_ptr<Wakeup>& wakeup);
  void unsubscribe(const Wakeup* wakeup);
  void move_to_locked(FillState next);
  void notify_locked();

  const std::string key_;
  const clock::time_point started_;
  mutable std::mutex mutex_;
  FillState state_ = FillState::Pending;
  Release release_ = Release::FetchAlone;
  bool awaiting_peer_ = false;
  clock::time_point fetching_since_;
  http::ResponseHead head_;
  std::optional<std::uint64_t> content_length_;
  std::string variant_;
  Spool spool_;
  std::vector<std::shared_ptr<Wakeup>> subscribers_;
};

// A follower's hold on a fill, and the fill's body as a BodySource: bytes
// as the writer appends them, the end when it completes, an error when it
// fails or stalls for longer than the idle timeout.
class Subscription final : public http::BodySource {
 public:
  Subscription() = default;
  Subscription(std::shared_ptr<Fill> fill, const boost::asio::any_io_executor& executor);
  Subscription(Subscription&& other) noexcept;
  Subscription& operator=(Subscription&& other) noexcept;
  ~Subscription() override;

  explicit operator bool() const noexcept { return fill_ != nullptr; }
  Fill& fill() const noexcept { return *fill_; }
  // Waits until the fill has left Pending, or until its writer has been
  // asking the origin for `patience` (not counting a wait for another
  // instance) without an answer; its state then.
  boost::asio::awaitable<FillState> wait_for_head(std::chrono::milliseconds patience);
  const std::shared_ptr<Fill>& shared_fill() const noexcept { return fill_; }
  void set_idle_timeout(std::chrono::milliseconds timeout) noexcept { idle_timeout_ = timeout; }
  boost::asio::awaitable<Result<std::span<const char>>> read() override;

 private:
  void reset() noexcept;

  std::shared_ptr<Fill> fill_;
  std::shared_ptr<Wakeup> wakeup_;
  std::chrono::milliseconds idle_timeout_{60'000};
  std::uint64_t offset_ = 0;
  std::string buffer_;                       // spool bytes read from its file
  std::shared_ptr<const std::string> hold_;  // or the in-memory chunk they are in
};

class KeySessions;

// The writer's right to fill a key. Whatever happens to it the fill ends
// and the key is free again: dropped without finish() it fails the fill
// (abandoned), so its followers compete again.
class WritePermit {
 public:
  WritePermit() = default;
  WritePermit(KeySessions& sessions, std::shared_ptr<Fill> fill) : sessions_(&sessions), fill_(std::move(fill)) {}
  WritePermit(WritePermit&& other) noexcept { *this = std::move(other); }
  WritePermit& operator=(WritePermit&& other) noexcept;
  ~WritePermit();

  explicit operator bool() const noexcept { return fill_ != nullptr; }
  Fill* operator->() const noexcept { return fill_.get(); }
  Fill& fill() const noexcept { return *fill_; }

  enum class Outcome { Done, Uncacheable };
  // Ends the fill as it stands (a fill not completed fails); Uncacheable
  // makes the key skip coalescing for hit_for_miss (Varnish hit-for-miss).
  void finish(Outcome outcome = Outcome::Done);

  // The cross-instance lock this fill holds, if any (fleet strategy),
  // renewed by its lease until released or the permit is dropped.
  const storage::DistributedLock::Held* lock() const noexcept { return lease_ ? &lease_->held() : nullptr; }
  void hold_lock(std::shared_ptr<LockLease> lease) { lease_ = std::move(lease); }
  // Lets the other instances go; a permit dropped without it has its
  // lease release the lock in the background.
  boost::asio::awaitable<void> release_lock();

 private:
  KeySessions* sessions_ = nullptr;
  std::shared_ptr<Fill> fill_;
  std::shared_ptr<LockLease> lease_;
};

struct CoalescerSettings {
  bool enabled = true;
  std::chrono::milliseconds follower_timeout{30'000};  // wait for the head before going alone
  std::chrono::milliseconds max_fill_age{60'000};      // older fills take no new followers
  std::chrono::milliseconds hit_for_miss{10'000};      // uncacheable keys skip coalescing this long
  std::chrono::milliseconds lock_ttl{3'000};           // the fleet lock's TTL, renewed every third of it
  std::string spool_dir = "/tmp";                        // where bodies past spool_memory go
  std::uint64_t spool_memory = 1024 * 1024;             // per fill
  bool fleet_fail_open = false;  // Redis away: no coalescing at all instead of local only
};

// What the shared store shows of another instance's fill of a key.
struct PeerView {
  enum Kind { Nothing, Stored, Streaming } kind = Nothing;
  std::optional<storage::Hit> in_progress;  // Streaming: the fill being written
};
using PeerProbe = std::function<boost::asio::awaitable<PeerView>()>;

class KeySessions {
 public:
  KeySessions(CoalescerSettings settings, std::shared_ptr<storage::DistributedLock> lock,
              metrics::Metrics* metrics, SteadyClock clock = &std::chrono::steady_clock::now)
      : settings_(std::move(settings)), lock_(std::move(lock)), metrics_(metrics), clock_(std::move(clock)) {}

  struct Acquired {
    enum class Kind {
      Fill,        // fetch it: `permit` lets this request fill for the followers
      Follow,      // stream `follow`, another request's fill in this process
      Alone,       // fetch it without sharing (coalescing off, hit-for-miss, Redis away)
      Stored,      // another instance stored it meanwhile: look it up again
      PeerStream,  // stream `in_progress` from another instance, feeding `permit`
    } kind = Kind::Alone;
    WritePermit permit;
    Subscription follow;
    std::optional<storage::Hit> in_progress;
  };
  // Local first: follow a running fill or become the key's writer. A writer
  // then takes the fleet lock when there is one; `probe` tells what the
  // shared store holds while another instance has it.
  // `give_up_on`: a fill this request followed until its patience ran out;
  // if it is still the key's fill, this request replaces it as writer (the
  // first follower to give up is elected; the others follow the new fill).
  boost::asio::awaitable<Acquired> acquire(const std::string& key, const PeerProbe& probe,
                                           const std::shared_ptr<Fill>& give_up_on = nullptr);
  // For a background revalidation: the permit when nobody fills the key now.
  std::optional<WritePermit> try_fill(const std::string& key);

  // A purge: running fills of keys `purged(key, head)` selects take no new
  // followers (the next request fills afresh); the ones following carry on.
  // `head` is null while a fill has no head yet.
  void detach_fills(const std::function<bool(const std::string& key, const http::ResponseHead* head)>& purged);

  const CoalescerSettings& settings() const noexcept { return settings_; }
  SteadyClock clock() const { return clock_; }

 private:
  friend class WritePermit;
  enum class Role { Writer, Follower, Alone };
  struct Ticket {
    Role role = Role::Alone;
    std::shared_ptr<Fill> fill;
  };
  Ticket join(const std::string& key, const std::shared_ptr<Fill>& give_up_on);
  void finished(const std::shared_ptr<Fill>& fill, bool uncacheable);
  // fleet_lock.cpp: the cross-instance strategy for a local writer.
  boost::asio::awaitable<Acquired> acquire_across_fleet(const std::string& key, WritePermit permit,
                                                        const PeerProbe& probe);
  // fleet_lock.cpp: the lock cannot be asked (Redis away): fill here, or
  // with fleet_fail_open coalesce nothing at all.
  Acquired without_fleet_lock(const std::string& key, WritePermit permit, const error_code& why);
  // What another instance's fill shows in the shared store, if anything
  // this request can use instead of fetching.
  std::optional<Acquired> use_peer_fill(PeerView seen, WritePermit& permit, double waited);
  void record_lock(std::string_view outcome);

  const CoalescerSettings settings_;
  const std::shared_ptr<storage::DistributedLock> lock_;
  metrics::Metrics* const metrics_;
  const SteadyClock clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Fill>> fills_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> uncacheable_until_;
};

}  // namespace relay::proxy
