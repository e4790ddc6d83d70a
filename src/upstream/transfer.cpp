// An origin request on the shared curl multi. curl's callbacks only move
// bytes and flags and wake the owning coroutine; all waiting happens in
// start() and read(), which hold the deadlines (first byte, idle).
#include "relay/upstream/transfer.hpp"

#include <charconv>
#include <cstring>
#include <utility>

#include "relay/upstream/tls_options.hpp"
#include "relay/util/log.hpp"

namespace relay::upstream {
namespace {

using clock = std::chrono::steady_clock;

error_code map_curl_error(int code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return make_error_code(Errc::upstream_connect_failed);
    case CURLE_OPERATION_TIMEDOUT:
      return make_error_code(Errc::upstream_timeout);
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
      return make_error_code(Errc::upstream_reset);
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      return make_error_code(Errc::upstream_protocol);
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
      return make_error_code(Errc::client_closed);
    default:
      return make_error_code(Errc::upstream_failed);
  }
}

// "HTTP/1.1 200 OK" -> status and reason.
bool parse_status_line(std::string_view line, http::ResponseHead& head) {
  auto space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return false;
  auto code = line.substr(space + 1, 3);
  int status = 0;
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), status);
  if (ec != std::errc{} || ptr != code.data() + 3 || status < 100 || status > 999) return false;
  head.status = status;
  head.reason = line.size() > space + 5 ? std::string(http::trim(line.substr(space + 5))) : std::string();
  head.headers.clear();
  return true;
}

}  // namespace

Transfer::Transfer(CurlMulti& multi, const config::UpstreamConfig& cfg, UpstreamRequest request,
                   CurlMulti::Slot slot)
    : multi_(multi),
      cfg_(cfg),
      request_(std::move(request)),
      slot_(std::move(slot)),
      easy_(multi.acquire_easy()),
      event_(multi.io().get_executor()) {}

Transfer::~Transfer() {
  if (!done_) multi_.remove(easy_);  // curl closes or pools the connection here...
  slot_.release();                    // ...so the next request finds it free
  curl_slist_free_all(header_list_);
  multi_.release_easy(easy_);
}

void Transfer::configure() {
  curl_easy_setopt(easy_, CURLOPT_URL, request_.url.c_str());
  connect_to_ = apply_tls(easy_, cfg_.tls, cfg_.url);
  // The client's target goes out byte for byte: no re-encoding, no dot-segment folding.
  curl_easy_setopt(easy_, CURLOPT_REQUEST_TARGET, request_.target.c_str());
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, static_cast<TransferSink*>(this));
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cfg_.connect_timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_BUFFERSIZE, 256L * 1024);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &Transfer::on_write);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);

  const auto& method = request_.method;
  if (method == "HEAD") {
    curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
  } else if (method != "GET" || request_.body) {
    curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (request_.body) {
    curl_easy_setopt(easy_, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy_, CURLOPT_READFUNCTION, &Transfer::on_read);
    curl_easy_setopt(easy_, CURLOPT_READDATA, this);
    if (request_.body_length) {
      curl_easy_setopt(easy_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(*request_.body_length));
    }
  }

  bool has_accept = false;
  for (const auto& field : request_.headers) {
    if (http::iequals(field.name, "accept")) has_accept = true;
    // curl sends "Name:" as "remove this header"; "Name;" sends it empty.
    auto line = field.value.empty() ? field.name + ";" : field.name + ": " + field.value;
    header_list_ = curl_slist_append(header_list_, line.c_str());
  }
  // Suppress what curl would add on its own: the origin sees the client's request.
  if (!has_accept) header_list_ = curl_slist_append(header_list_, "Accept:");
  header_list_ = curl_slist_append(header_list_, "Expect:");
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, header_list_);
}

boost::asio::awaitable<Result<std::unique_ptr<Transfer>>> Transfer::start(
    CurlMulti& multi, const config::UpstreamConfig& cfg, UpstreamRequest request, http::ResponseSink* interim) {
  auto slot = co_await multi.acquire_slot();
  if (!slot) co_return slot.error();
  std::unique_ptr<Transfer> t(new Transfer(multi, cfg, std::move(request), std::move(*slot)));
  t->configure();
  multi.add(t->easy_);

  auto deadline = clock::now() + cfg.first_byte_timeout;
  while (!t->head_ready_ && !t->done_) {
    if (!t->interim_.empty()) {
      co_await t->forward_interim(interim);
      continue;
    }
    if (t->upload_wanted_ && !t->upload_eof_) {
      if (!co_await t->feed_upload()) co_return make_error_code(Errc::client_closed);
      // The clock for the origin's answer starts once it has the whole request.
      deadline = clock::now() + cfg.first_byte_timeout;
      continue;
    }
    if (!co_await t->event_.wait_until(deadline) && !t->head_ready_ && !t->done_) {
      co_return make_error_code(Errc::upstream_first_byte_timeout);
    }
  }
  // Interim responses that came in the same read as the final head go first.
  co_await t->forward_interim(interim);
  if (!t->head_ready_) {
    auto error = t->failure();
    t->log_failure(error);
    co_return error;
  }
  co_return std::move(t);
}

// curl's own words (its error buffer) on why the origin gave no answer. A
// TLS failure is a warning: it needs an operator (a CA, a name, a client
// certificate) and nothing else names the cause. The others are logged by
// the request path with their status; their detail is for debugging.
void Transfer::log_failure(const error_code& error) const {
  if (error == Errc::upstream_tls) {
    log::warn("origin TLS failure for ", request_.method, " ", request_.target, " (", cfg_.url.base, "): ", detail_);
  } else {
    log::debug("origin failed for ", request_.method, " ", request_.target, " (", cfg_.url.base, "): ",
               detail_.empty() ? error.message() : detail_);
  }
}

boost::asio::awaitable<void> Transfer::forward_interim(http::ResponseSink* sink) {
  while (!interim_.empty()) {
    auto head = std::move(interim_.front());
    interim_.pop_front();
    if (sink) co_await sink->interim(head);
  }
}

// RFC 9112 §6.1: chunked is the only transfer coding relay decodes; any other
// (or chunked not alone) leaves the body's framing unknown. Like nginx
// (nginx/nginx src/http/modules/ngx_http_proxy_module.c: "upstream sent
// unknown Transfer-Encoding"), such a response is refused, not forwarded.
bool Transfer::accept_framing() {
  if (request_.method == "HEAD" || head_.status == 204 || head_.status == 304) return true;
  auto codings = head_.headers.get_combined("transfer-encoding");
  if (!codings) return true;
  if (http::iequals(http::trim(*codings), "chunked")) return true;
  bad_framing_ = true;
  detail_ = "Transfer-Encoding: " + *codings;
  log::warn("origin answered ", request_.method, " ", request_.target, " with Transfer-Encoding \"", *codings,
            "\": relay decodes only the chunked transfer coding");
  return false;
}

boost::asio::awaitable<Result<std::span<const char>>> Transfer::read() {
  current_.clear();  // the caller is done with the last chunk
  auto deadline = clock::now() + cfg_.idle_timeout;
  for (;;) {
    if (!filling_.empty()) {
      current_.swap(filling_);
      resume_receiving();  // curl may deliver into filling_ right here
      co_return std::span<const char>(current_.data(), current_.size());
    }
    resume_receiving();
    if (done_) {
      if (curl_code_ != CURLE_OK) co_return failure();
      co_return std::span<const char>{};
    }
    if (upload_wanted_ && !upload_eof_) {
      if (!co_await feed_upload()) co_return make_error_code(Errc::client_closed);
      continue;
    }
    if (!co_await event_.wait_until(deadline) && filling_.empty() && !done_) {
      co_return make_error_code(Errc::upstream_idle_timeout);
    }
  }
}

void Transfer::resume_receiving() {
  if (!recv_paused_) return;
  recv_paused_ = false;
  apply_pause_state();
}

boost::asio::awaitable<bool> Transfer::feed_upload() {
  auto chunk = co_await request_.body->read();
  if (!chunk) {
    detail_ = "client request body: " + chunk.error().message();
    co_return false;
  }
  upload_wanted_ = false;
  if (chunk->empty()) {
    upload_eof_ = true;
  } else {
    upload_pending_ = *chunk;
  }
  if (send_paused_) {
    send_paused_ = false;
    apply_pause_state();
  }
  co_return true;
}

void Transfer::apply_pause_state() {
  if (done_) return;
  int mask = (recv_paused_ ? CURLPAUSE_RECV : 0) | (send_paused_ ? CURLPAUSE_SEND : 0);
  curl_easy_pause(easy_, mask);
}

void Transfer::on_done(int curl_code) {
  done_ = true;
  curl_code_ = curl_code;
  slot_.release();  // the connection is back in curl's pool, or closed
  if (curl_code != CURLE_OK && !bad_framing_) {
    detail_ = error_buffer_[0] ? error_buffer_ : curl_easy_strerror(static_cast<CURLcode>(curl_code));
    if (auto reason = tls_failure(easy_, static_cast<CURLcode>(curl_code), detail_)) {
      tls_failure_ = true;
      detail_ = std::move(*reason);
    }
  }
  event_.notify();
}

error_code Transfer::failure() const {
  if (bad_framing_) return make_error_code(Errc::upstream_transfer_coding);
  if (curl_code_ == CURLE_OK) return make_error_code(Errc::upstream_protocol);
  if (tls_failure_) return make_error_code(Errc::upstream_tls);
  return map_curl_error(curl_code_);
}

std::size_t Transfer::on_header(char* data, std::size_t size, std::size_t count, void* self) {
  auto* t = static_cast<Transfer*>(self);
  std::size_t n = size * count;
  if (t->head_ready_) return n;  // trailers: not forwarded
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    if (!parse_status_line(line, t->head_)) return 0;  // aborts: CURLE_WRITE_ERROR
    return n;
  }
  if (line.empty()) {
    if (t->head_.status < 200) {
      // An interim response, followed by more: kept apart from the final
      // head, whose headers start afresh at its status line. 101 would be
      // a protocol switch relay never asks for.
      if (t->head_.status != 101) t->interim_.push_back(std::exchange(t->head_, http::ResponseHead{}));
      t->event_.notify();
      return n;
    }
    if (!t->accept_framing()) return 0;  // aborts: CURLE_WRITE_ERROR
    t->head_ready_ = true;
    t->event_.notify();
    return n;
  }
  if ((line.front() == ' ' || line.front() == '\t') && !t->head_.headers.empty()) {
    return n;  // obsolete line folding (RFC 9112 §5.2): dropped rather than guessed at
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  t->head_.headers.add(std::string(line.substr(0, colon)), std::string(http::trim(line.substr(colon + 1))));
  return n;
}

std::size_t Transfer::on_write(char* data, std::size_t size, std::size_t count, void* self) {
  auto* t = static_cast<Transfer*>(self);
  std::size_t n = size * count;
  if (t->filling_.size() >= high_water) {
    t->recv_paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  t->filling_.append(data, n);
  t->event_.notify();
  return n;
}

std::size_t Transfer::on_read(char* data, std::size_t size, std::size_t count, void* self) {
  auto* t = static_cast<Transfer*>(self);
  if (t->upload_pending_.empty()) {
    if (t->upload_eof_) return 0;
    t->upload_wanted_ = true;
    t->send_paused_ = true;
    t->event_.notify();
    return CURL_READFUNC_PAUSE;
  }
  std::size_t n = std::min(size * count, t->upload_pending_.size());
  std::memcpy(data, t->upload_pending_.data(), n);
  t->upload_pending_ = t->upload_pending_.subspan(n);
  return n;
}

}  // namespace relay::upstream
