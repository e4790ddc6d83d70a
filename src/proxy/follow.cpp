// A follower: a request for a key that another request is already fetching.
// It waits for the writer's response head (bounded by follower_timeout,
// staggered so that a group of followers does not give up at once, and
// not counting a wait for another instance's fill), then streams the body from the fill's spool as the writer receives it,
// at its own pace (a slow client holds back no one).
// A fill that turns out unshareable sends the follower to the origin on its
// own (Alone); a writer that keeps a follower waiting past its patience
// is replaced: that follower becomes the key's writer, and those giving up
// after it follow the new fill (TakeOver); one whose writer updated the store (Released with Retry) or
// went away before its head (Failed) sends it back to look again, so the
// followers compete for the key anew.
#include <random>

#include "relay/cache/vary.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/pump.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {
// 90–110% of the timeout, so followers that came together leave one by one.
std::chrono::milliseconds staggered(std::chrono::milliseconds timeout) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<long> spread(timeout.count() * 9 / 10, timeout.count() * 11 / 10);
  return std::chrono::milliseconds(spread(rng));
}
}  // namespace

asio::awaitable<Handler::FollowResult> Handler::follow(const http::Request& req, Subscription fill,
                                                       std::string_view fwd, http::ResponseSink& out) {
  const auto& settings = shared_.sessions.settings();
  auto started = steady::now();
  switch (co_await fill.wait_for_head(staggered(settings.follower_timeout))) {
    case FillState::Streaming:
    case FillState::Complete:
      break;
    case FillState::Failed:
      co_return FollowResult{FollowResult::Retry, {}, nullptr};
    case FillState::Released:
      co_return FollowResult{
          fill.fill().release_reason() == Release::Retry ? FollowResult::Retry : FollowResult::Alone, {}, nullptr};
    case FillState::Pending:
      shared_.metrics.record_coalesce_timeout("follower");
      log::info("coalescing: the fill of ", req.target, " has no response after ", settings.follower_timeout.count(),
                " ms: fetching it again");
      co_return FollowResult{FollowResult::TakeOver, {}, fill.shared_fill()};
  }

  http::ResponseHead head = fill.fill().head();
  auto names = cache::vary_names(head.headers);
  if (!names.empty() && cache::vary_key(names, req.headers).value_or("\x1f*") != fill.fill().variant()) {
    co_return FollowResult{};  // the writer's variant is not this request's
  }
  shared_.metrics.record_coalesced(std::chrono::duration<double>(steady::now() - started).count());

  FollowResult result{FollowResult::Answered, {}, nullptr};
  auto& info = result.outcome.info;
  info.status = cache::CacheStatus::Coalesced;
  info.fwd = fwd;
  info.fwd_status = head.status;
  info.collapsed = true;
  strip_for_client(head.headers);
  add_response_fields(head.headers, req, info);
  if (!co_await out.write_head(std::move(head), fill.fill().content_length())) co_return result;
  if (req.is_head()) {
    co_await out.finish();
    co_return result;
  }
  fill.set_idle_timeout(upstreams_.pool_of(req.route).idle_timeout);
  // A failing fill (the writer lost the origin mid-body) cuts this client
  // short, as it does the writer's own.
  co_await pump(fill, PumpTargets{.client = &out});
  co_return result;
}

}  // namespace relay::proxy
