// The one body loop of the request path: bytes from a BodySource to the
// client, into storage and to the followers of a fill, each optional. It
// alone decides what a failing party means:
//   - the client leaves: the body keeps flowing while it is being stored or
//     followed (a fill outlives its client, like Varnish's); else it stops
//     and the source (an origin transfer) is dropped;
//   - the store fails (too large after all, disk or Redis trouble): the
//     entry is abandoned, never half-visible, and the others carry on;
//   - the source fails: the fill fails, the store is abandoned and a client
//     whose head is out is aborted (a short body is the only honest signal).
// At the end, in this order: the store commits, the fill completes (its
// followers then find the committed entry), the client's response finishes.
// With defer_commit, a client still there is finished first and the commit
// and the fill's completion are left to the caller (commit_deferred), so a
// keep-alive connection does not wait for an fsync.
// The client may be given only a window of the body (a Range).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>

#include "relay/http/body.hpp"
#include "relay/storage/storage.hpp"

namespace relay::proxy {

class Fill;

struct PumpTargets {
  http::ResponseSink* client = nullptr;    // its head already written; null = no client
  storage::BodyWriter* store = nullptr;    // null = not stored
  Fill* fill = nullptr;                    // null = nobody follows
  // The client gets body bytes [window_begin, window_end); the source's
  // first byte is byte `source_offset` of the body.
  std::uint64_t source_offset = 0;
  std::uint64_t window_begin = 0;
  std::uint64_t window_end = std::numeric_limits<std::uint64_t>::max();
  bool defer_commit = false;
};

struct PumpResult {
  bool complete = false;     // the source reached its end (and the client's window was filled)
  error_code source_error;   // set when the source failed
  bool client_gone = false;  // the client stopped taking bytes
  bool stored = false;       // the store committed
  bool commit_deferred = false;  // complete, the client finished; store and fill are the caller's to end
  error_code store_error;    // why it did not, when one was given
  std::uint64_t bytes = 0;   // read from the source
};

boost::asio::awaitable<PumpResult> pump(http::BodySource& source, PumpTargets targets);

// A source whose first chunk was read ahead (to find a failure before a
// head is sent): yields that chunk, then the rest of `rest`.
class PrimedSource final : public http::BodySource {
 public:
  PrimedSource(std::span<const char> first, http::BodySource& rest) : first_(first), rest_(rest) {}
  boost::asio::awaitable<Result<std::span<const char>>> read() override;

 private:
  std::optional<std::span<const char>> first_;
  http::BodySource& rest_;
};

}  // namespace relay::proxy
