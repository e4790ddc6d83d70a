// One HTTP/2 client connection (RFC 9113), over TLS (ALPN h2) or in
// cleartext with prior knowledge (h2c). nghttp2 does the framing, HPACK and
// flow control; this class drives it: one reader coroutine feeds it the
// bytes read, one writer coroutine sends what it has to send (gathered into
// writes of up to 64 KiB), a ticker keeps the connection's deadlines, and
// every request gets a coroutine of its own running the Service, with an
// H2BodySource and H2ResponseSink (h2_stream.hpp). All of it runs on the
// connection's one thread: no locks.
//
// Bounds: streams at once (SETTINGS_MAX_CONCURRENT_STREAMS, and request
// coroutines still running after their stream was reset), request body
// bytes per stream (its window), response bytes per stream (the sink's
// high-water mark), header bytes per request (server.max_header_size).
// Abuse (rapid reset, CONTINUATION, SETTINGS and PING floods, HPACK bombs,
// zero-window stalls, unanswered PINGs) ends the connection with GOAWAY and
// is counted in relay_http2_abuse_total.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/http/service.hpp"
#include "relay/server/client_socket.hpp"
#include "relay/server/h2_stream.hpp"
#include "relay/server/session.hpp"
#include "relay/util/block_pool.hpp"
#include "relay/util/request_context.hpp"

struct nghttp2_session;

namespace relay::metrics {
class Metrics;
}

namespace relay::server {

class Watchdog;

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  // `scheme`: "https" over TLS, "http" for h2c. `already_read`: bytes the
  // caller read off the connection before deciding it is HTTP/2 (normally
  // none: h2c detection only peeks).
  H2Session(ClientSocket socket, std::shared_ptr<const config::Config> config, http::Service& service,
            metrics::Metrics& metrics, SessionHost& host, std::string_view scheme, std::string already_read = {});
  ~H2Session();

  // Serves the connection until it ends. Spawned in the owner's TaskGroup on
  // a ContextExecutor carrying context(); a terminal cancellation ends every
  // stream at its next suspension point.
  boost::asio::awaitable<void> run();
  std::shared_ptr<const RequestContext> context() const noexcept { return context_; }
  // Graceful shutdown: a GOAWAY shutdown notice, a second later the final
  // GOAWAY naming the last stream taken; open streams finish, then the
  // connection closes.
  void drain();

 private:
  friend struct H2Callbacks;

  bool start_nghttp2();
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> tick_loop();
  // Feeds received bytes to nghttp2; false once the connection is to end.
  bool receive(const char* data, std::size_t size);
  // Runs a helper coroutine (reader, ticker, a stream) counted in live_tasks_.
  void spawn(boost::asio::awaitable<void> work, boost::asio::cancellation_signal& signal,
             std::shared_ptr<const RequestContext> context, std::shared_ptr<void> owner = {});
  boost::asio::awaitable<void> serve_stream(std::shared_ptr<H2Stream> stream);
  int refusal(const H2Stream& stream) const;
  boost::asio::awaitable<void> refuse(H2Stream& stream, http::ResponseSink& out, int status);
  // Checks the deadlines, acting on those passed; the next one to check.
  std::chrono::steady_clock::time_point check_deadlines(std::chrono::steady_clock::time_point now);
  // Ends the connection: GOAWAY with `error_code` goes out, then it closes.
  // `abuse`: the relay_http2_abuse_total kind ("" = none).
  void terminate(std::uint32_t error_code, std::string_view abuse);
  void note_abuse(std::string_view kind);
  void final_goaway();
  void start_stream(std::shared_ptr<H2Stream> stream);

  ClientSocket socket_;
  std::shared_ptr<const config::Config> config_;
  const config::ServerConfig& cfg_;  // config_->server
  http::Service& service_;
  metrics::Metrics& metrics_;
  SessionHost& host_;
  std::string_view scheme_;
  std::string already_read_;
  std::string peer_;
  std::shared_ptr<Watchdog> watchdog_;
  std::shared_ptr<RequestContext> context_ = std::make_shared<RequestContext>();

  H2Link link_;
  // Entries come and go with every request: their nodes from the block pool.
  using StreamMap = std::map<std::int32_t, std::shared_ptr<H2Stream>, std::less<>,
                             util::PoolAllocator<std::pair<const std::int32_t, std::shared_ptr<H2Stream>>>>;
  StreamMap streams_;  // open in nghttp2
  std::vector<std::shared_ptr<H2Stream>> ready_;  // complete heads from the last mem_recv
  std::vector<std::shared_ptr<H2Stream>> starting_;  // ready_'s, being started (keeps its capacity)
  StreamMap running_;  // request coroutines still running

  std::size_t live_tasks_ = 0;  // reader, ticker and stream coroutines not yet ended
  Wakeup tasks_done_;
  boost::asio::cancellation_signal reader_cancel_;
  boost::asio::cancellation_signal ticker_cancel_;
  Wakeup ticker_;

  using steady = std::chrono::steady_clock;
  steady::time_point started_ = steady::now();
  steady::time_point last_received_ = started_;
  steady::time_point idle_since_ = started_;
  std::optional<steady::time_point> ping_sent_;
  std::optional<steady::time_point> shutdown_notice_;
  bool preface_received_ = false;
  bool final_goaway_sent_ = false;
  bool terminating_ = false;  // nothing more is read; what is queued goes out, then the end
  bool peer_gone_ = false;    // nothing can be sent either
  bool goaway_sent_ = false;
  std::string abuse_;         // the abuse that ended the connection, recorded at the end
  bool end_explained_ = false;  // abuse_ (or a reason of ours) is settled
  std::uint64_t resets_received_ = 0;
};

}  // namespace relay::server
