// The fleet strategy of KeySessions: coalescing across instances that share
// one Redis. A local writer also takes the key's Redis lock; an instance
// that finds it taken waits (woken by the holder's notices through Redis
// pub/sub, or polling with jittered back-off without them) for the other
// instance's response: it streams it while it is being written
// (peer_fill.cpp) as soon as the holder announces it in the store, or
// answers from the store once it is committed, so the origin sees one request per object for the fleet.
// The holder renews its lock while it lives (lock_lease.hpp); if it dies,
// the lock expires within lock_ttl and one waiter takes it over (the
// others see that one's fill as they saw the first), so a dead holder
// costs one more origin request, not one per waiter. A waiter's own
// deadline is staggered, so instances that queued together do not give up
// together. If Redis is away, each instance falls back to its local
// coalescing or, with degraded = "fail-open", to none.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "relay/metrics/metrics.hpp"
#include "relay/proxy/key_session.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {
std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<long> spread(base.count() / 2, base.count() * 3 / 2);
  return std::chrono::milliseconds(spread(rng));
}


KeySessions::Acquired fill_here(WritePermit permit) {
  permit->fetch_here();
  KeySessions::Acquired acquired;
  acquired.kind = KeySessions::Acquired::Kind::Fill;
  acquired.permit = std::move(permit);
  return acquired;
}
}  // namespace

void KeySessions::record_lock(std::string_view outcome) {
  if (metrics_) metrics_->record_lock(outcome);
}

KeySessions::Acquired KeySessions::without_fleet_lock(const std::string& key, WritePermit permit,
                                                      const error_code& why) {
  record_lock("error");
  if (metrics_) metrics_->record_lock_failure("unavailable");
  log::debug("fill lock for ", key, " unavailable: ", why.message());
  if (!settings_.fleet_fail_open) return fill_here(std::move(permit));
  // No coalescing at all: local followers go to the origin too.
  permit->release(Release::FetchAlone);
  permit.finish();
  return Acquired{};  // Alone
}

std::optional<KeySessions::Acquired> KeySessions::use_peer_fill(PeerView seen, WritePermit& permit, double waited) {
  if (seen.kind == PeerView::Nothing) return std::nullopt;
  if (metrics_) metrics_->record_lock_wait(waited);
  Acquired acquired;
  if (seen.kind == PeerView::Stored) {
    // The key is found in the shared store: local followers look there too.
    permit->release(Release::Retry);
    acquired.kind = Acquired::Kind::Stored;
    return acquired;
  }
  if (metrics_) metrics_->record_coalesced(waited);
  acquired.kind = Acquired::Kind::PeerStream;
  acquired.in_progress = std::move(seen.in_progress);
  acquired.permit = std::move(permit);
  return acquired;
}

asio::awaitable<KeySessions::Acquired> KeySessions::acquire_across_fleet(const std::string& key, WritePermit permit,
                                                                         const PeerProbe& probe) {
  const auto ttl = settings_.lock_ttl;
  auto started = clock_();
  // 95–105% of follower_timeout.
  auto deadline = started + settings_.follower_timeout * 9 / 10 + jittered(settings_.follower_timeout / 10);
  auto backoff = std::chrono::milliseconds(20);
  bool contended = false;
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  // Local followers wait for this wait's outcome, not on their own timeout.
  permit->await_peer();
  // The holder's notices (its first bytes, its commit, its lock's release)
  // wake this wait instead of polls; registered once the lock is found
  // taken, before the store is looked at.
  std::unique_ptr<storage::DistributedLock::ChangeWatch> notices;
  auto waited = [&] { return std::chrono::duration<double>(clock_() - started).count(); };

  for (;;) {
    auto attempt = co_await lock_->try_acquire(key, ttl);
    if (!attempt) co_return without_fleet_lock(key, std::move(permit), attempt.error());
    if (*attempt) {
      record_lock("acquired");
      permit.hold_lock(LockLease::start(executor, lock_, std::move(**attempt), ttl, metrics_));
      // Look again, even when nobody held the lock: another instance may
      // have stored the object and released its lock between this
      // request's lookup and now (the holder releases once it is stored).
      PeerView now_seen;
      if (probe) now_seen = co_await probe();
      if (now_seen.kind != PeerView::Stored) {
        if (contended && metrics_) metrics_->record_lock_wait(waited());
        co_return fill_here(std::move(permit));
      }
      co_await permit.release_lock();
      co_return std::move(*use_peer_fill(std::move(now_seen), permit, waited()));
    }
    if (!contended) {
      record_lock("contended");
      notices = lock_->watch(key, executor);
    }
    contended = true;

    // Another instance is fetching: has its response reached the shared
    // store, or started to?
    // (Not a conditional expression around co_await: GCC 12 mishandles
    // the temporaries of one.)
    PeerView seen;
    if (probe) seen = co_await probe();
    if (auto usable = use_peer_fill(std::move(seen), permit, waited())) co_return std::move(*usable);
    if (clock_() >= deadline) {
      if (metrics_) metrics_->record_lock_failure("timeout");
      log::info("waited ", settings_.follower_timeout.count(), " ms for another instance to fetch ", key,
                ": fetching it here");
      co_return fill_here(std::move(permit));
    }
    if (notices && notices->live()) {
      // Looked at again on a notice, or at the latest after half a second
      // (pub/sub keeps nothing: a notice lost in a reconnection is made good).
      auto next = std::min(deadline, clock_() + jittered(std::chrono::milliseconds(500)));
      co_await notices->wait_until(next);
      continue;
    }
    timer.expires_after(jittered(backoff));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    // Capped low: only one request per key and instance polls (the others
    // follow it in-process), and the cap is how late a waiting instance may
    // notice the fill it could stream.
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace relay::proxy
