// See tunnel.hpp. Two pumps and an idle watch run as one parallel group:
// the pumps together (both must finish), or the watch, whichever ends
// first; the loser is cancelled. An error in one pump closes both streams,
// which ends the other pump's pending read or write at once.
#include "relay/proxy/tunnel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <vector>

namespace relay::proxy {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

struct TunnelState {
  http::ByteStream& client;
  http::ByteStream& origin;
  TunnelBytes on_bytes;
  steady::time_point last_activity = steady::now();
  TunnelEnd end;

  void fail(std::string_view reason) {
    if (end.reason == "closed") end.reason = reason;
    client.close();
    origin.close();
  }
};

asio::awaitable<void> pump(TunnelState& state, bool to_origin) {
  auto& from = to_origin ? state.client : state.origin;
  auto& to = to_origin ? state.origin : state.client;
  auto& moved = to_origin ? state.end.client_to_origin : state.end.origin_to_client;
  std::vector<char> chunk(tunnel_chunk);
  for (;;) {
    auto got = co_await from.read_some(std::span(chunk));
    if (!got) co_return state.fail(to_origin ? "client_error" : "origin_error");
    if (*got == 0) {
      // This side is done sending; the other may still have things to say.
      co_await to.shutdown_send();
      co_return;
    }
    state.last_activity = steady::now();
    auto sent = co_await to.write_all(std::span<const char>(chunk.data(), *got));
    if (!sent) co_return state.fail(to_origin ? "origin_error" : "client_error");
    state.last_activity = steady::now();
    moved += *got;
    if (state.on_bytes) state.on_bytes(to_origin, *got);
  }
}

// Ends when no byte has moved for `idle`; returns at once when cancelled.
asio::awaitable<void> idle_watch(TunnelState& state, config::Duration idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto deadline = state.last_activity + idle;
    if (steady::now() >= deadline) {
      state.fail("idle");
      co_return;
    }
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

}  // namespace

asio::awaitable<TunnelEnd> run_tunnel(http::ByteStream& client, http::ByteStream& origin, config::Duration idle_timeout,
                                      TunnelBytes on_bytes) {
  using namespace asio::experimental::awaitable_operators;
  TunnelState state{client, origin, std::move(on_bytes), steady::now(), TunnelEnd{}};
  try {
    co_await ((pump(state, true) && pump(state, false)) || idle_watch(state, idle_timeout));
  } catch (const boost::system::system_error&) {
    // Cancelled from outside (the shutdown grace): the streams are closed below.
    state.fail("cancelled");
  }
  client.close();
  origin.close();
  co_return state.end;
}

}  // namespace relay::proxy
