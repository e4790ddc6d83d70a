// HTTP/2 connection driver (see h2_session.hpp). nghttp2 is used through
// nghttp2_session_mem_recv / mem_send only: the socket is ours. Its
// callbacks run inside those two calls, so they only record what happened
// (a request head complete, body bytes arrived, a stream closed); request
// coroutines are started and window acknowledgements made after the call
// returns.
#include "relay/server/h2_session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include "relay/http/problem.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/server/h2_memory.hpp"
#include "relay/server/watchdog.hpp"
#include "relay/util/log.hpp"

namespace relay::server {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxWrite = 64 * 1024;  // bytes gathered into one socket write
constexpr std::size_t kIdleWriteBuffer = 16 * 1024;  // kept by a connection between writes
// A header block decoding to this many times server.max_header_size is an
// HPACK bomb, not a large request: the connection ends.
constexpr std::uint64_t kHeaderBombFactor = 4;
// Request coroutines may outlive their streams (a reset stream's handler
// notices at its next write); past this many per allowed stream, new
// streams are refused until they have ended.
constexpr std::size_t kRunningPerStream = 2;
// Between the shutdown notice and the final GOAWAY: a round trip for
// requests already on their way (RFC 9113 §6.8).
constexpr auto kShutdownNoticeGrace = std::chrono::seconds(1);
// Once the connection is ending, what is still queued gets this long to go out.
constexpr auto kFinalFlush = std::chrono::seconds(2);
// A response complete before its request: how long, and how many more body
// bytes, the rest of the upload is taken and dropped before the stream is
// reset. Clients (curl 7.88 among them) report an upload cut by a reset
// as an error even when the response was complete.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr std::uint64_t kLingerBytes = 256 * 1024;

std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// What nghttp2's GOAWAY (sent by itself, not by us) says about the peer.
std::string_view abuse_of_goaway(std::uint32_t error_code, std::uint64_t resets_received) {
  switch (error_code) {
    case NGHTTP2_NO_ERROR:
      return "";
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return "control_flood";
    case NGHTTP2_INTERNAL_ERROR:
      // The stream reset rate limit's GOAWAY (nghttp2 1.57's fix, backported).
      return resets_received > 0 ? "rapid_reset" : "protocol_error";
    default:
      return "protocol_error";
  }
}

}  // namespace

// nghttp2's callbacks; user_data is the H2Session.
struct H2Callbacks {
  static H2Session& of(void* user_data) { return *static_cast<H2Session*>(user_data); }

  static H2Stream* stream(H2Session& h, std::int32_t id) {
    auto it = h.streams_.find(id);
    return it == h.streams_.end() ? nullptr : it->second.get();
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& h = of(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto s = std::allocate_shared<H2Stream>(util::PoolAllocator<H2Stream>{}, h.link_, frame->hd.stream_id,
                                            h.socket_.tcp().get_executor());
    h.streams_.emplace(frame->hd.stream_id, std::move(s));
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name_data,
                       std::size_t name_len, const std::uint8_t* value_data, std::size_t value_len, std::uint8_t,
                       void* user_data) {
    auto& h = of(user_data);
    H2Stream* s = stream(h, frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS) return 0;
    // Decoded size, not wire size: a few bytes of HPACK can stand for kilobytes.
    s->header_bytes += name_len + value_len + 32;
    const std::uint64_t limit = h.cfg_.max_header_size;
    if (s->header_bytes > limit * kHeaderBombFactor) {
      log::info("client ", h.peer_, ": header block of stream ", s->id, " decodes past ",
                limit * kHeaderBombFactor, " bytes: closing");
      h.terminate(NGHTTP2_ENHANCE_YOUR_CALM, "header_flood");
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (s->header_bytes > limit) s->header_too_large = true;
    // Trailers are read (their size counts) and dropped: nothing downstream takes them.
    if (s->header_too_large || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    const auto name = as_view(name_data, name_len);
    const auto value = as_view(value_data, value_len);
    auto& req = s->req;
    if (name == ":method") {
      req.method = value;
    } else if (name == ":path") {
      assign_recycled(req.target, value);
    } else if (name == ":authority") {
      assign_recycled(s->authority, value);
    } else if (name == "cookie") {
      if (!s->cookies.empty()) s->cookies.append("; ");
      s->cookies.append(value);
    } else if (name.empty() || name.front() != ':') {
      req.headers.add_copy(name, value);  // into fields a dropped Headers left in the thread's stash
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    auto& h = of(user_data);
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        h.preface_received_ = true;
        break;
      case NGHTTP2_RST_STREAM:
        ++h.resets_received_;
        break;
      case NGHTTP2_HEADERS: {
        H2Stream* s = stream(h, frame->hd.stream_id);
        if (!s) break;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          // Settled here: by the time the request starts, its whole body may have come too.
          s->req.has_body = !end_stream;
          if (end_stream) s->body_ended = true;
          const std::size_t cap = kRunningPerStream * h.cfg_.http2.max_concurrent_streams;
          if (h.running_.size() + h.ready_.size() >= cap) {
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
            break;
          }
          h.ready_.push_back(h.streams_.at(s->id));
        } else if (end_stream) {
          s->body_ended = true;  // trailers
          s->body_wake.notify();
        }
        break;
      }
      case NGHTTP2_DATA:
        if (H2Stream* s = stream(h, frame->hd.stream_id); s && end_stream) {
          s->body_ended = true;
          s->body_wake.notify();
        }
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len, void* user_data) {
    auto& h = of(user_data);
    H2Stream* s = stream(h, stream_id);
    if (!s) {
      h.link_.consume(stream_id, len);
      return 0;
    }
    s->body_received += len;
    if (s->linger_until) {
      s->lingered += len;
      if (s->lingered > kLingerBytes) stop_lingering(h, *s);
    }
    if (s->body_limit > 0 && s->body_received > s->body_limit) s->body_over_limit = true;
    if (s->body_released || s->body_over_limit) {
      // Nobody will read it: acknowledged at once, so the connection's window stays open.
      s->consume(len);
    } else {
      s->body_in.append(reinterpret_cast<const char*>(data), len);
    }
    s->body_wake.notify();
    return 0;
  }

  static void stop_lingering(H2Session& h, H2Stream& s) {
    s.linger_until.reset();
    nghttp2_submit_rst_stream(h.link_.session, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_NO_ERROR);
    h.link_.writer.notify();
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user_data) {
    auto& h = of(user_data);
    auto it = h.streams_.find(stream_id);
    if (it == h.streams_.end()) return 0;
    it->second->closed_by_nghttp2(error_code);
    h.streams_.erase(it);
    if (h.streams_.empty()) {
      h.idle_since_ = steady::now();
      h.ticker_.notify();
    }
    return 0;
  }

  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    auto& h = of(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      h.goaway_sent_ = true;
      if (frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        h.note_abuse(abuse_of_goaway(frame->goaway.error_code, h.resets_received_));
        h.terminating_ = true;
      }
      return 0;
    }
    // RFC 9113 §8.1: a complete response before the complete request. The
    // rest of a small upload is taken and dropped for a moment; past that the
    // client is asked to stop sending (NO_ERROR keeps the response).
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
      H2Stream* s = stream(h, frame->hd.stream_id);
      if (!s) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
        return 0;
      }
      s->release_body();
      s->linger_until = steady::now() + kLingerTime;
      h.ticker_.notify();
    }
    return 0;
  }
};

H2Session::H2Session(ClientSocket socket, std::shared_ptr<const config::Config> config, http::Service& service,
                     metrics::Metrics& metrics, SessionHost& host, std::string_view scheme,
                     std::string already_read)
    : socket_(std::move(socket)),
      config_(std::move(config)),
      cfg_(config_->server),
      service_(service),
      metrics_(metrics),
      host_(host),
      scheme_(scheme == "https" ? std::string_view("https") : std::string_view("http")),
      already_read_(std::move(already_read)),
      watchdog_(std::make_shared<Watchdog>(socket_.tcp())),
      link_(socket_.tcp().get_executor()),
      tasks_done_(socket_.tcp().get_executor()),
      ticker_(socket_.tcp().get_executor()) {}

H2Session::~H2Session() {
  if (link_.session) nghttp2_session_del(link_.session);
}

bool H2Session::start_nghttp2() {
  const auto& h2 = cfg_.http2;
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, H2Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, H2Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, H2Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, H2Callbacks::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, H2Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, H2Callbacks::on_frame_send);

  // Request bodies are acknowledged as the request path takes them.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_option_set_stream_reset_rate_limit(option, h2.max_resets_burst, h2.max_resets_per_second);
  nghttp2_option_set_max_continuations(option, h2.max_continuations);
  // SETTINGS and PING floods: acknowledgements the client does not read pile up.
  nghttp2_option_set_max_outbound_ack(option, 1000);
  nghttp2_option_set_max_settings(option, 32);

  nghttp2_session* session = nullptr;
  int rv = nghttp2_session_server_new3(&session, callbacks, this, option, pooled_nghttp2_mem());
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    log::error("HTTP/2 session setup failed: ", nghttp2_strerror(rv));
    return false;
  }
  link_.session = session;

  const std::array<nghttp2_settings_entry, 4> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(std::min<std::uint64_t>(cfg_.max_header_size, UINT32_MAX))},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  }};
  rv = nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  // The connection's window: room for a few streams' windows at once (the
  // 64 KiB default would make every upload wait for the others).
  const std::uint64_t connection_window =
      std::min<std::uint64_t>(std::uint64_t{h2.initial_window_size} * 4, NGHTTP2_MAX_WINDOW_SIZE);
  if (rv == 0 && connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
    rv = nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<std::int32_t>(connection_window));
  if (rv != 0) {
    log::error("HTTP/2 settings refused: ", nghttp2_strerror(rv));
    return false;
  }
  return true;
}

void H2Session::spawn(asio::awaitable<void> work, asio::cancellation_signal& signal,
                      std::shared_ptr<const RequestContext> context, std::shared_ptr<void> owner) {
  ++live_tasks_;
  // `owner` holds `signal`: the slot bound to it is cleared only once the coroutine has ended.
  auto done = asio::bind_cancellation_slot(
      signal.slot(), [self = shared_from_this(), owner = std::move(owner)](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const boost::system::system_error& error) {
            if (error.code() != asio::error::operation_aborted)
              log::error("HTTP/2 task ended by an unexpected error: ", error.what());
          } catch (const std::exception& error) {
            log::error("HTTP/2 task ended by an unexpected error: ", error.what());
          }
        }
        --self->live_tasks_;
        self->tasks_done_.notify();
      });
  // Over the io_context's own executor (one word) the ContextExecutor fits
  // in an any_io_executor's inline storage; over an any_io_executor it
  // would be allocated at every copy, several times per stream.
  const auto& executor = socket_.tcp().get_executor();
  if (const auto* io = executor.target<asio::io_context::executor_type>()) {
    asio::co_spawn(ContextExecutor(*io, std::move(context)), std::move(work), std::move(done));
  } else {
    asio::co_spawn(ContextExecutor(executor, std::move(context)), std::move(work), std::move(done));
  }
}

asio::awaitable<void> H2Session::run() {
  auto self = shared_from_this();
  metrics_.record_client_connection("HTTP/2", true);
  peer_ = socket_.peer_address();
  context_->client = peer_;
  watchdog_->start();
  bool cancelled = false;
  if (start_nghttp2()) {
    if (host_.draining()) drain();
    spawn(read_loop(), reader_cancel_, context_);
    spawn(tick_loop(), ticker_cancel_, context_);
    std::string failure;
    try {
      co_await write_loop();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    // Terminal cancellation (shutdown grace elapsed) unwinds as an
    // exception; anything else is a bug that must not take the process down.
    if (!failure.empty()) {
      cancelled = (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
      if (cancelled)
        log::info("HTTP/2 connection cut: server.shutdown_grace elapsed");
      else
        log::error("HTTP/2 connection aborted by an unexpected error: ", failure);
    }
  }
  if (cancelled) co_await asio::this_coro::reset_cancellation_state();

  // From here no stream touches nghttp2: their operations fail at once.
  terminating_ = true;
  nghttp2_session* session = std::exchange(link_.session, nullptr);
  for (auto& [id, stream] : streams_) stream->closed_by_nghttp2(NGHTTP2_CANCEL);
  streams_.clear();
  ready_.clear();
  std::vector<std::shared_ptr<H2Stream>> running;
  for (auto& [id, stream] : running_) running.push_back(stream);
  for (auto& stream : running) {
    stream->closed_by_nghttp2(NGHTTP2_CANCEL);
    if (cancelled) stream->cancel.emit(asio::cancellation_type::terminal);
  }
  reader_cancel_.emit(asio::cancellation_type::terminal);
  ticker_.notify();
  // Request coroutines hold references into this session: it outlives them.
  while (live_tasks_ > 0) co_await tasks_done_.wait(steady::time_point::max());
  if (session) nghttp2_session_del(session);

  if (socket_.tls() && !cancelled && !peer_gone_ && !watchdog_->fired()) {
    watchdog_->expire_after(std::chrono::seconds(1));
    co_await socket_.close_notify();
  }
  watchdog_->stop();
  socket_.shutdown_send();
  socket_.close();
  if (!abuse_.empty()) metrics_.record_http2_abuse(abuse_);
  metrics_.record_client_connection("HTTP/2", false);
}

void H2Session::drain() {
  if (!link_.session || shutdown_notice_ || terminating_) return;
  nghttp2_submit_shutdown_notice(link_.session);
  shutdown_notice_ = steady::now();
  link_.writer.notify();
  ticker_.notify();
}

void H2Session::final_goaway() {
  final_goaway_sent_ = true;
  if (!link_.session) return;
  nghttp2_submit_goaway(link_.session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(link_.session),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  link_.writer.notify();
}

void H2Session::note_abuse(std::string_view kind) {
  if (end_explained_ || kind.empty()) return;
  abuse_ = kind;
  end_explained_ = true;
}

void H2Session::terminate(std::uint32_t error_code, std::string_view abuse) {
  note_abuse(abuse);
  end_explained_ = true;  // the GOAWAY that follows is ours, not a verdict on the peer
  if (terminating_) return;
  terminating_ = true;
  // A peer being cut off may not read either: the flush gets a short deadline.
  watchdog_->expire_after(kFinalFlush);
  if (link_.session) nghttp2_session_terminate_session(link_.session, error_code);
  link_.writer.notify();
}

bool H2Session::receive(const char* data, std::size_t size) {
  link_.in_nghttp2 = true;
  const auto rv =
      nghttp2_session_mem_recv(link_.session, reinterpret_cast<const std::uint8_t*>(data), size);
  link_.in_nghttp2 = false;
  link_.flush_deferred();
  starting_.swap(ready_);
  for (auto& stream : starting_)
    if (!stream->closed && !terminating_) start_stream(std::move(stream));
  starting_.clear();
  link_.writer.notify();
  if (rv < 0) {
    std::string_view kind;
    switch (rv) {
      case NGHTTP2_ERR_FLOODED:
        kind = "control_flood";
        break;
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        kind = "continuation_flood";
        break;
      case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
        kind = "";  // not HTTP/2 at all: nothing to count
        break;
      case NGHTTP2_ERR_CALLBACK_FAILURE:
        kind = "";  // ours: already counted
        break;
      default:
        kind = "protocol_error";
        break;
    }
    log::info("client ", peer_, ": HTTP/2 connection closed: ", nghttp2_strerror(static_cast<int>(rv)));
    const std::uint32_t code = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                                   ? NGHTTP2_ENHANCE_YOUR_CALM
                                   : NGHTTP2_PROTOCOL_ERROR;
    terminate(code, kind);
    return false;
  }
  return !terminating_ && nghttp2_session_want_read(link_.session);
}

asio::awaitable<void> H2Session::read_loop() {
  if (!already_read_.empty() && !receive(already_read_.data(), already_read_.size())) co_return;
  already_read_.clear();
  std::array<char, 16 * 1024> buffer;
  for (;;) {
    auto [ec, n] = co_await socket_.read_some(asio::buffer(buffer));
    if (!link_.session || terminating_) co_return;
    if (ec) {
      peer_gone_ = true;
      link_.writer.notify();
      co_return;
    }
    last_received_ = steady::now();
    if (!receive(buffer.data(), n)) co_return;
  }
}

asio::awaitable<void> H2Session::write_loop() {
  // Room for a burst of small responses; grown to what a write gathers
  // (up to kMaxWrite and a frame) when it must, and cut back while the
  // connection waits, so an idle connection holds no 80 KiB.
  std::string out;
  out.reserve(kIdleWriteBuffer);
  for (;;) {
    if (peer_gone_ || !link_.session) co_return;
    out.clear();
    link_.in_nghttp2 = true;
    while (out.size() < kMaxWrite) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(link_.session, &data);
      if (n < 0) {
        log::error("HTTP/2 framing failed: ", nghttp2_strerror(static_cast<int>(n)));
        terminating_ = true;
        break;
      }
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      // Once the connection is ending its GOAWAY is the last thing worth sending.
      if (terminating_ && goaway_sent_) break;
    }
    link_.in_nghttp2 = false;
    link_.flush_deferred();
    if (!out.empty()) {
      watchdog_->expire_after(terminating_ ? steady::duration(kFinalFlush) : steady::duration(cfg_.idle_timeout));
      auto [ec, n] = co_await socket_.write(asio::buffer(out));
      if (!terminating_) watchdog_->disarm();
      if (ec) {
        peer_gone_ = true;
        co_return;
      }
      if (terminating_ && goaway_sent_) co_return;
      continue;
    }
    if (terminating_) co_return;
    if (!nghttp2_session_want_read(link_.session) && !nghttp2_session_want_write(link_.session)) co_return;
    if (out.capacity() > kIdleWriteBuffer) {
      std::string().swap(out);
      out.reserve(kIdleWriteBuffer);
    }
    co_await link_.writer.wait(steady::time_point::max());
  }
}

asio::awaitable<void> H2Session::tick_loop() {
  for (;;) {
    if (terminating_ || peer_gone_ || !link_.session) co_return;
    const auto next = check_deadlines(steady::now());
    if (terminating_ || peer_gone_) co_return;
    co_await ticker_.wait(next);
  }
}

steady::time_point H2Session::check_deadlines(steady::time_point now) {
  auto next = steady::time_point::max();
  if (!preface_received_) {
    const auto deadline = started_ + cfg_.header_timeout;
    if (now >= deadline) {
      log::info("client ", peer_, ": HTTP/2 preface not received within server.header_timeout");
      metrics_.record_client_timeout("head");
      terminate(NGHTTP2_NO_ERROR, "");
      return next;
    }
    next = deadline;
  }
  if (shutdown_notice_ && !final_goaway_sent_) {
    const auto deadline = *shutdown_notice_ + kShutdownNoticeGrace;
    if (now >= deadline)
      final_goaway();
    else
      next = std::min(next, deadline);
  }
  for (auto& [id, s] : streams_) {
    if (!s->linger_until) continue;
    if (now >= *s->linger_until)
      H2Callbacks::stop_lingering(*this, *s);
    else
      next = std::min(next, *s->linger_until);
  }
  if (streams_.empty()) {
    ping_sent_.reset();
    const auto deadline = idle_since_ + cfg_.idle_timeout;
    if (now >= deadline) {
      log::debug("client ", peer_, ": HTTP/2 connection idle for server.idle_timeout: closing");
      terminate(NGHTTP2_NO_ERROR, "");
      return steady::time_point::max();
    }
    return std::min(next, deadline);
  }
  if (ping_sent_ && last_received_ > *ping_sent_) ping_sent_.reset();
  if (ping_sent_) {
    const auto deadline = *ping_sent_ + cfg_.http2.ping_timeout;
    if (now >= deadline) {
      log::info("client ", peer_, ": no answer to PING within server.http2.ping_timeout: closing");
      terminate(NGHTTP2_NO_ERROR, "ping_timeout");
      return steady::time_point::max();
    }
    return std::min(next, deadline);
  }
  const auto deadline = last_received_ + cfg_.http2.ping_interval;
  if (now >= deadline) {
    nghttp2_submit_ping(link_.session, NGHTTP2_FLAG_NONE, nullptr);
    ping_sent_ = now;
    link_.writer.notify();
    return std::min(next, now + cfg_.http2.ping_timeout);
  }
  return std::min(next, deadline);
}

void H2Session::start_stream(std::shared_ptr<H2Stream> stream) {
  auto& s = *stream;
  auto& req = s.req;
  req.version_major = 2;
  req.version_minor = 0;
  req.scheme = scheme_;
  req.keep_alive = true;
  req.client_address = peer_;
  if (!s.cookies.empty()) req.headers.add("cookie", std::move(s.cookies));
  if (!s.authority.empty() && !req.headers.contains("host")) req.headers.add("host", s.authority);
  // RFC 9113 §8.5: CONNECT names its target in :authority alone.
  if (req.method == "CONNECT") req.target = s.authority;
  req.content_length = http::content_length(req.headers);
  assign_recycled(req.request_id, {}, 16);  // a buffer for a generated ID (16 hex digits)
  proxy::assign_request_id(req);
  s.context->client = peer_;
  assign_recycled(s.context->id, req.request_id);
  // Asked before any body byte is handed on; bytes that came with the head count too.
  s.body_limit = service_.body_limit_for(req);
  if (s.body_limit > 0 && s.body_received > s.body_limit) s.body_over_limit = true;
  s.handler_started = true;
  running_.emplace(s.id, stream);
  spawn(serve_stream(stream), s.cancel, s.context, stream);
}

// Why the request is answered by relay itself, before the service (0: it is not).
int H2Session::refusal(const H2Stream& s) const {
  if (s.header_too_large) return 431;
  if (s.req.method == "CONNECT") return 501;
  if (s.body_limit > 0 && s.req.content_length && *s.req.content_length > s.body_limit) return 413;
  return 0;
}

asio::awaitable<void> H2Session::serve_stream(std::shared_ptr<H2Stream> stream) {
  auto& s = *stream;
  H2ResponseSink out(s, cfg_.idle_timeout, metrics_);
  // One body source and one call per stream, both at the top of this frame
  // (GCC 12 mislays objects declared in branches of a coroutine).
  H2BodySource body(s, out, cfg_, metrics_);
  const int refused = refusal(s);
  if (refused != 0) {
    co_await refuse(s, out, refused);
  } else {
    co_await service_.serve(s.req, body, out);
  }
  // A service that left the response open: the client must not wait for the rest.
  if (!out.ended() && !s.response_complete) out.abort();
  s.release_body();
  running_.erase(s.id);
}

asio::awaitable<void> H2Session::refuse(H2Stream& s, http::ResponseSink& out, int status) {
  std::string slug, detail;
  switch (status) {
    case 431:
      log::info("client ", peer_, ": 431 header list over server.max_header_size");
      slug = "header-fields-too-large";
      detail = "the request's header fields are too large";
      break;
    case 501:
      log::info("client ", peer_, ": 501 CONNECT over HTTP/2");
      slug = "method-not-implemented";
      detail = "CONNECT is not supported here";
      break;
    default:
      log::info("client ", peer_, ": 413 content-length ", *s.req.content_length, " over the body limit (",
                s.body_limit, " bytes)");
      slug = "content-too-large";
      detail = "Content-Length ";
      detail.append(std::to_string(*s.req.content_length)).append(" is over the limit: ");
      detail.append(http::body_limit_detail(s.body_limit));
      break;
  }
  metrics_.record_client_error(status);
  s.release_body();
  co_await http::respond_problem(out, s.req, status, std::move(slug), std::move(detail));
  service_.log_refused(s.req, status, out.body_bytes(),
                       std::chrono::duration<double>(steady::now() - s.started).count());
}

}  // namespace relay::server
