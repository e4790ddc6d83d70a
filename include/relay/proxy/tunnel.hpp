// The byte pump of a tunnel: after a 101, whatever either side sends goes
// to the other until both have finished, as it arrives (no framing, no
// buffering beyond one chunk per direction, so a side that stops reading
// stops the other side's sending: back-pressure). Half-closes are passed
// on: one side's end of stream becomes a shutdown of sending towards the
// other, while the other direction goes on. A read or write error ends both
// directions; so does `idle_timeout` without a byte moving either way, and
// cancellation (the shutdown grace).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <string_view>

#include "relay/config/config.hpp"
#include "relay/http/byte_stream.hpp"

namespace relay::proxy {

struct TunnelEnd {
  std::uint64_t client_to_origin = 0;
  std::uint64_t origin_to_client = 0;
  // "closed" (both sides finished), "idle", "client_error", "origin_error" or "cancelled".
  std::string_view reason = "closed";
};

// Told of every chunk delivered (to_origin: client to origin), e.g. for metrics.
using TunnelBytes = std::function<void(bool to_origin, std::size_t bytes)>;

boost::asio::awaitable<TunnelEnd> run_tunnel(http::ByteStream& client, http::ByteStream& origin,
                                             config::Duration idle_timeout, TunnelBytes on_bytes = {});

constexpr std::size_t tunnel_chunk = 16 * 1024;

}  // namespace relay::proxy
