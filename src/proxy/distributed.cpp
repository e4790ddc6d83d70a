// Coalescing across instances that share one Redis. The local writer of a
// key also takes the key's Redis lock; an instance that finds the lock
// taken waits (jittered back-off) for the other instance's response: it
// streams it while it is being written (peer_fill.cpp) as soon as the
// holder announces it in the store, or answers from the store once it is
// committed, so the origin sees one request per object for the whole fleet.
// If the holder dies, its lock expires and a waiter takes over; if Redis is
// away, each instance falls back to its local coalescing ("local") or to
// none ("fail-open").
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "relay/cache/range.hpp"
#include "relay/proxy/handler.hpp"
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
}  // namespace

asio::awaitable<Handler::Peer> Handler::wait_for_peers(const http::Request& req, const Lookup& found,
                                                       const cache::ResolvedRule& rule,
                                                       std::optional<storage::DistributedLock::Held>& held,
                                                       std::optional<storage::Hit>& in_progress) {
  const auto& settings = cfg_.cache.coalesce;
  auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(settings.max_fill_age);
  auto started = steady::now();
  auto deadline = started + settings.follower_timeout;
  auto backoff = std::chrono::milliseconds(20);
  bool contended = false;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto waited = [&] { return std::chrono::duration<double>(steady::now() - started).count(); };

  for (;;) {
    auto attempt = co_await shared_.lock->try_acquire(found.storage_key, ttl);
    if (!attempt) {
      shared_.metrics.record_lock("error");
      shared_.metrics.record_lock_failure("unavailable");
      log::debug("fill lock for ", req.target, " unavailable: ", attempt.error().message());
      co_return settings.degraded == config::DegradedMode::FailOpen ? Peer::Degraded : Peer::Fill;
    }
    auto usable_in_store = [&](const Lookup& seen) {
      if (!seen.hit) return false;
      const auto& meta = seen.hit->meta;
      auto verdict = cache::classify(req.headers, {meta.headers, meta.request_time, meta.response_time}, rule.policy,
                                     std::chrono::system_clock::now());
      return verdict.verdict != cache::Verdict::MustValidate;
    };
    if (*attempt) {
      shared_.metrics.record_lock("acquired");
      held = std::move(**attempt);
      if (!contended) co_return Peer::Fill;
      shared_.metrics.record_lock_wait(waited());
      // The holder released the lock because it finished: its response is stored.
      if (usable_in_store(co_await lookup(found.primary, req))) {
        co_await shared_.lock->release(*held);
        held.reset();
        co_return Peer::Stored;
      }
      co_return Peer::Fill;
    }
    if (!contended) shared_.metrics.record_lock("contended");
    contended = true;

    // Another instance is fetching: has its response reached the shared
    // store, or started to?
    auto seen = co_await lookup(found.primary, req);
    if (usable_in_store(seen)) {
      shared_.metrics.record_lock_wait(waited());
      co_return Peer::Stored;
    }
    if (!seen.storage_key.empty()) {
      auto partial = co_await shared_.storage->get_in_progress(seen.storage_key);
      // Streamed only when it can be resumed from the origin should the
      // holder die midway (a strong validator names these exact bytes).
      if (partial && *partial && cache::strong_validator((*partial)->meta.headers)) {
        shared_.metrics.record_lock_wait(waited());
        shared_.metrics.record_coalesced(waited());
        in_progress = std::move(**partial);
        co_return Peer::Streaming;
      }
    }
    if (steady::now() >= deadline) {
      shared_.metrics.record_lock_failure("timeout");
      log::info("waited ", settings.follower_timeout.count(), " ms for another instance to fetch ", req.target,
                ": fetching it here");
      co_return Peer::Fill;
    }
    timer.expires_after(jittered(backoff));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    // Capped low: only one request per key and instance polls (the others
    // follow it in-process), and the cap is how late a waiting instance may
    // notice the fill it could stream.
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

asio::awaitable<void> Handler::keep_lock(const FetchPlan& plan, steady::time_point& next) {
  if (!plan.lock || steady::now() < next) co_return;
  auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.cache.coalesce.max_fill_age);
  next = steady::now() + ttl / 3;
  auto extended = co_await shared_.lock->extend(*plan.lock, ttl);
  if (extended && !*extended) {
    shared_.metrics.record_lock_failure("lost");
    log::warn("fill lock for ", plan.lock->name, " expired during the fill; another instance may fetch it too");
  }
}

}  // namespace relay::proxy
