// A follower: a request for a key that another request is already fetching.
// It waits for the writer's response head (bounded by follower_timeout),
// then streams the body from the fill's spool as the writer receives it,
// at its own pace (a slow client holds back no one).
// A fill that turns out unshareable sends the follower to the origin on its
// own (Alone) or back to the store (Retry).
#include <boost/asio/this_coro.hpp>

#include "relay/cache/vary.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

asio::awaitable<Handler::FollowResult> Handler::follow(const http::Request& req, std::shared_ptr<Fill> fill,
                                                       std::string_view fwd, server::ResponseWriter& out) {
  auto executor = co_await asio::this_coro::executor;
  auto event = std::make_shared<AsyncEvent>(executor);
  fill->subscribe(executor, event);
  auto started = steady::now();
  auto deadline = started + shared_.coalescer.settings().follower_timeout;

  for (;;) {
    auto state = fill->state();
    if (state == FillState::Streaming || state == FillState::Complete) break;
    if (state == FillState::Failed) co_return FollowResult{};
    if (state == FillState::Released) {
      co_return FollowResult{fill->release_reason() == Release::Retry ? FollowResult::Retry : FollowResult::Alone, {}};
    }
    if (!co_await event->wait_until(deadline) && fill->state() == FillState::Pending) {
      shared_.metrics.record_coalesce_timeout("follower");
      log::info("coalescing: waited ", shared_.coalescer.settings().follower_timeout.count(), " ms for ", req.target,
                ", fetching it alone");
      co_return FollowResult{};
    }
  }

  http::ResponseHead head = fill->head();
  auto names = cache::vary_names(head.headers);
  if (!names.empty() && cache::vary_key(names, req.headers).value_or("\x1f*") != fill->variant()) {
    co_return FollowResult{};  // the writer's variant is not this request's
  }
  shared_.metrics.record_coalesced(std::chrono::duration<double>(steady::now() - started).count());

  FollowResult result{FollowResult::Answered, {}};
  auto& info = result.outcome.info;
  info.status = cache::CacheStatus::Coalesced;
  info.fwd = fwd;
  info.fwd_status = head.status;
  info.collapsed = true;
  strip_targeted(head.headers);
  add_response_fields(head.headers, req, info);
  if (!co_await out.write_head(std::move(head), fill->content_length())) co_return result;
  if (req.is_head()) {
    co_await out.finish();
    co_return result;
  }
  std::string buffer;                       // spool bytes read from its file
  std::shared_ptr<const std::string> hold;  // or the in-memory chunk they are in
  for (std::uint64_t offset = 0;;) {
    auto snapshot = fill->read(offset, buffer, hold);
    if (!snapshot.data.empty()) {
      if (!co_await out.write_body(snapshot.data)) co_return result;
      offset += snapshot.data.size();
      continue;
    }
    if (snapshot.state == FillState::Complete && !snapshot.unreadable) break;
    if (snapshot.state == FillState::Failed || snapshot.unreadable) {
      // The writer lost the origin mid-body (or the spool failed): like it,
      // this client gets a short response.
      out.force_close();
      co_return result;
    }
    if (!co_await event->wait_until(steady::now() + cfg_.upstream.idle_timeout) &&
        fill->read(offset, buffer, hold).data.empty() && fill->state() == FillState::Streaming) {
      log::warn("coalescing: fill of ", req.target, " stalled, closing a follower");
      out.force_close();
      co_return result;
    }
  }
  co_await out.finish();
  co_return result;
}

}  // namespace relay::proxy
