// pump(): see pump.hpp for the rules it holds.
#include "relay/proxy/pump.hpp"

#include <algorithm>

#include "relay/proxy/key_session.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;

asio::awaitable<Result<std::span<const char>>> PrimedSource::read() {
  if (first_) {
    auto chunk = *first_;
    first_.reset();
    co_return chunk;
  }
  co_return co_await rest_.read();
}

namespace {
constexpr auto unbounded = std::numeric_limits<std::uint64_t>::max();

// Bytes the store has just written go to the client from the store's file
// where both can: sendfile(2) hands the kernel the pages it already holds,
// where a write would copy the bytes again.
asio::awaitable<bool> send_to_client(http::ResponseSink& client, storage::BodyWriter* store,
                                     std::span<const char> bytes, std::uint64_t body_offset) {
  const int fd = store ? store->body_fd() : -1;
  if (fd >= 0 && client.sends_files()) co_return bool(co_await client.write_file({fd, body_offset, bytes.size()}));
  co_return bool(co_await client.write_body(bytes));
}

// Whether anyone still wants the body once the client is gone.
bool wanted_without_client(const PumpTargets& t) { return t.store || (t.fill && t.fill->followers() > 0); }
}  // namespace

asio::awaitable<PumpResult> pump(http::BodySource& source, PumpTargets t) {
  PumpResult result;
  result.client_gone = t.client == nullptr;
  std::uint64_t offset = t.source_offset;  // body position of the next byte from the source
  auto client_wants = [&] { return !result.client_gone && offset < t.window_end; };
  auto drop_store = [&](error_code why) {
    result.store_error = why;
    t.store = nullptr;
  };

  for (;;) {
    if (!client_wants() && !wanted_without_client(t)) break;  // nobody left to read it
    auto chunk = co_await source.read();
    if (!chunk) {
      result.source_error = chunk.error();
      if (t.fill) t.fill->fail();
      t.store = nullptr;  // abandoned: a writer dropped uncommitted leaves no trace
      if (t.client && !result.client_gone) t.client->abort();
      co_return result;
    }
    if (chunk->empty()) {
      result.complete = true;
      break;
    }
    result.bytes += chunk->size();
    if (t.store) {
      if (auto written = co_await t.store->write(*chunk); !written) drop_store(written.error());
    }
    // Followers read what the store keeps when it keeps it in a file.
    if (t.fill) t.fill->append(*chunk, t.store ? t.store->body_fd() : -1);
    if (client_wants()) {
      auto chunk_end = offset + chunk->size();
      if (chunk_end > t.window_begin) {
        auto from = t.window_begin > offset ? t.window_begin - offset : 0;
        auto to = std::min<std::uint64_t>(chunk->size(), t.window_end - offset);
        if (!co_await send_to_client(*t.client, t.store, chunk->subspan(from, to - from), offset + from))
          result.client_gone = true;
      }
    }
    offset += chunk->size();
  }

  const bool client_satisfied = !result.client_gone && t.client && offset >= t.window_end;
  if (!result.complete) {
    // Stopped early because nobody needs the rest: nothing is stored, the
    // fill (without followers) ends, a client whose window is full is done.
    if (t.fill) t.fill->fail();
    if (client_satisfied && !co_await t.client->finish()) result.client_gone = true;
    co_return result;
  }
  // A client window the source could not fill (a stored body shorter than
  // its record) is a failure for that client only.
  const bool window_short = t.client && !result.client_gone && t.window_end != unbounded && offset < t.window_end;
  if (t.store && t.defer_commit && t.client && !result.client_gone && !window_short) {
    // The client's response ends now; its caller commits and completes the
    // fill after the connection has gone on to its next request.
    result.commit_deferred = true;
    if (!co_await t.client->finish()) result.client_gone = true;
    co_return result;
  }
  if (t.store) {
    if (auto committed = co_await t.store->commit(); committed) {
      result.stored = true;
    } else {
      result.store_error = committed.error();
    }
  }
  if (t.fill) t.fill->complete();
  if (window_short) {
    log::warn("body ended at byte ", offset, ", short of the ", t.window_end, " promised to the client");
    t.client->abort();
    result.complete = false;
    co_return result;
  }
  if (t.client && !result.client_gone) {
    if (!co_await t.client->finish()) result.client_gone = true;
  }
  co_return result;
}

}  // namespace relay::proxy
