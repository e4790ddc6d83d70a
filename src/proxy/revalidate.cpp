// Revalidations no client waits for: stale-while-revalidate (RFC 5861 §3:
// the client got the stale response) and refresh-ahead (a popular response
// is revalidated before it expires, so it never goes stale). One
// background request per key brings the stored response up to date: a 304
// freshens it, a storable response replaces it. Nobody waits for this, so
// failures are only logged and counted.
#include <boost/asio/co_spawn.hpp>

#include "relay/cache/facts.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;

namespace {
class NoBody final : public http::BodySource {
 public:
  asio::awaitable<Result<std::span<const char>>> read() override { co_return std::span<const char>{}; }
};
}  // namespace

bool Handler::revalidate_in_background(const http::Request& req, const cache::ResolvedRule& rule,
                                       const Lookup& found, Background why) {
  if (!found.storage_key()) return false;
  // Through the key's session: one fetch per key, and requests arriving
  // after the stale window follow this fill instead of starting another.
  auto permit = shared_.sessions.try_fill(found.storage_key()->flat());
  if (!permit) return false;
  Lookup copy;
  copy.key = found.key;
  copy.storable = found.storable;
  copy.vary_names = found.vary_names;
  copy.generation = found.generation;
  copy.hit = storage::Hit{found.hit->meta, nullptr};
  http::Request background = req;
  background.method = "GET";
  background.has_body = false;
  background.content_length.reset();
  const bool ahead = why == Background::RefreshAhead;
  spawn_background((ahead ? "refresh-ahead of " : "background revalidation of ") + found.storage_key()->flat(),
                   background_revalidation(std::move(background), rule, std::move(copy), std::move(*permit), why,
                                           RefreshSlot(ahead ? shared_.refresh_ahead : nullptr)));
  return true;
}

void Handler::refresh_if_popular(const http::Request& req, const cache::ResolvedRule& rule, const Lookup& found,
                                 const cache::Classification& verdict) {
  const auto& settings = cfg_.cache.refresh_ahead;
  auto* tracker = shared_.refresh_ahead;
  const bool enabled = rule.rule && rule.rule->refresh_ahead ? *rule.rule->refresh_ahead : settings.enabled;
  if (!tracker || !enabled || !found.storage_key()) return;
  const RefreshAhead::Settings limits{settings.min_hits, settings.at, settings.max_concurrent,
                                      static_cast<std::size_t>(settings.max_tracked)};
  // The tracker is keyed like the fills; a plain key is its primary, read
  // in place (flat() would copy it on every hit).
  std::string joined;
  std::string_view key = found.key.primary;
  if (found.key.variant) key = joined = found.key.flat();
  switch (tracker->on_fresh_hit(key, found.hit->meta.response_time, verdict.age, verdict.lifetime, limits,
                                std::chrono::system_clock::now())) {
    case RefreshAhead::Decision::None:
      return;
    case RefreshAhead::Decision::Busy:
      shared_.metrics.record_refresh_ahead("busy");
      return;
    case RefreshAhead::Decision::Refresh:
      // Another fill of the key runs already: it brings the response up to date.
      if (!revalidate_in_background(req, rule, found, Background::RefreshAhead)) tracker->not_started(key);
      return;
  }
}

void Handler::spawn_background(std::string what, asio::awaitable<void> work) {
  background_.spawn(io_.get_executor(), std::move(work), [this, what = std::move(what)](std::exception_ptr failure) {
    if (failure && !background_.cancelled()) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        log::error(what, " aborted: ", e.what());
      }
    }
    if (background_.empty() && on_background_idle) on_background_idle();
  });
}

// fetch with no client: the verdict and the pump do the rest, as for a
// request that fills the cache in the foreground.
asio::awaitable<void> Handler::background_revalidation(http::Request req, cache::ResolvedRule rule, Lookup found,
                                                       WritePermit fill, Background why, RefreshSlot slot) {
  const auto request = cache::request_facts(req.method, req.headers);
  FetchPlan plan{&rule, &found, std::nullopt, "stale", &fill, &request};
  NoBody no_body;
  const auto outcome = co_await fetch(req, no_body, nullptr, std::move(plan));
  if (fill) co_await fill.release_lock();
  if (why != Background::RefreshAhead) co_return;
  const auto& info = outcome.info;
  if (info.status == CacheStatus::Revalidated) {
    shared_.metrics.record_refresh_ahead("revalidated");
  } else if (info.stored) {
    shared_.metrics.record_refresh_ahead("refreshed");
  } else {
    shared_.metrics.record_refresh_ahead("failed");
    log::warn("refresh-ahead of ", req.target, " left the stored response as it was (origin status ",
              info.fwd_status ? std::to_string(*info.fwd_status) : std::string("none"), ")");
  }
  (void)slot;  // held until here: the refresh counts as running until it has ended
}

}  // namespace relay::proxy
