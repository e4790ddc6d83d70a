// stale-while-revalidate (RFC 5861 §3): the client got the stale response;
// here one background request per key brings the stored response up to
// date: a 304 freshens it, a storable response replaces it. Nobody waits
// for this, so failures are only logged and counted.
#include <boost/asio/co_spawn.hpp>

#include "relay/cache/facts.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;

namespace {
class NoBody final : public http::BodySource {
 public:
  asio::awaitable<Result<std::span<const char>>> read() override { co_return std::span<const char>{}; }
};
}  // namespace

void Handler::revalidate_in_background(const http::Request& req, const cache::ResolvedRule& rule,
                                       const Lookup& found) {
  if (!found.storage_key) return;
  // Through the key's session: one fetch per key, and requests arriving
  // after the stale window follow this fill instead of starting another.
  auto permit = shared_.sessions.try_fill(found.storage_key->flat());
  if (!permit) return;
  Lookup copy;
  copy.primary = found.primary;
  copy.storage_key = found.storage_key;
  copy.vary_names = found.vary_names;
  copy.generation = found.generation;
  copy.hit = storage::Hit{found.hit->meta, nullptr};
  http::Request background = req;
  background.method = "GET";
  background.has_body = false;
  background.content_length.reset();
  spawn_background("background revalidation of " + found.storage_key->flat(),
                   background_revalidation(std::move(background), rule, std::move(copy), std::move(*permit)));
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
                                                       WritePermit fill) {
  const auto request = cache::request_facts(req.method, req.headers);
  FetchPlan plan{&rule, &found, std::nullopt, "stale", &fill, &request};
  NoBody no_body;
  co_await fetch(req, no_body, nullptr, std::move(plan));
  if (fill) co_await fill.release_lock();
}

}  // namespace relay::proxy
