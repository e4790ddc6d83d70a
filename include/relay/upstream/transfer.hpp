// One request to the origin as a coroutine-friendly object: start() waits
// for a connection slot, sends the request (streaming its body from a
// http::BodySource), hands interim (1xx) responses to a ResponseSink as they
// come, and returns once the final response head is in; read() then yields
// the body as it arrives. A body framed with a transfer coding other than
// chunked fails start() (upstream_transfer_coding): relay could not frame it.
// Body bytes are double-buffered: curl appends to one buffer while the
// reader holds the other, so each read() hands over everything that came
// since the last (curl cuts a body into 16 KiB calls; the store and the
// client get it in as few writes as it arrived in). Back-pressure: once
// `high_water` bytes wait, curl is paused until the reader takes them.
// Destroying a Transfer aborts it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "relay/config/config.hpp"
#include "relay/http/body.hpp"
#include "relay/http/response.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "relay/upstream/tls_options.hpp"
#include "relay/util/async_event.hpp"
#include "relay/util/result.hpp"

namespace relay::upstream {

struct UpstreamRequest {
  std::string method;
  std::string url;     // scheme://authority/ of the origin
  std::string target;  // request-target sent as is (origin-form, or "*")
  http::Headers headers;  // already end-to-end only, with proxy fields added
  http::BodySource* body = nullptr;  // the client's request body
  std::optional<std::uint64_t> body_length;  // nullopt with a body = chunked
};

class Transfer final : public TransferSink, public http::BodySource {
 public:
  // interim: where 1xx responses go (null: they are dropped).
  static boost::asio::awaitable<Result<std::unique_ptr<Transfer>>> start(
      CurlMulti& multi, const config::UpstreamConfig& cfg, UpstreamRequest request,
      http::ResponseSink* interim = nullptr);

  ~Transfer() override;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  const http::ResponseHead& head() const noexcept { return head_; }
  // Next body chunk; an empty span is the end. Valid until the next call.
  boost::asio::awaitable<Result<std::span<const char>>> read() override;
  // Something that must live as long as this transfer (the member's
  // in-flight count, for least-connections balancing).
  void keep_alongside(std::shared_ptr<void> companion) { companion_ = std::move(companion); }
  // curl's own words on the last failure, for logs.
  const std::string& error_detail() const noexcept { return detail_; }

  static constexpr std::size_t high_water = 256 * 1024;

 private:
  Transfer(CurlMulti& multi, const config::UpstreamConfig& cfg, UpstreamRequest request, CurlMulti::Slot slot);
  void configure();
  boost::asio::awaitable<void> forward_interim(http::ResponseSink* sink);
  // The final head is complete: false (and the transfer fails) when its body
  // is framed in a way relay cannot decode.
  bool accept_framing();
  void on_done(int curl_code) override;
  // Feeds the upload if curl waits for request-body bytes; false on failure.
  boost::asio::awaitable<bool> feed_upload();
  void apply_pause_state();
  void resume_receiving();  // unpauses curl if on_write paused it
  error_code failure() const;
  void log_failure(const error_code& error) const;

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_write(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_read(char* data, std::size_t size, std::size_t count, void* self);

  CurlMulti& multi_;
  const config::UpstreamConfig& cfg_;
  UpstreamRequest request_;
  CurlMulti::Slot slot_;  // held until curl is done with the connection
  CURL* easy_;
  curl_slist* header_list_ = nullptr;
  Slist connect_to_;  // the SNI override's CURLOPT_CONNECT_TO, read by curl until done
  AsyncEvent event_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  std::string detail_;

  http::ResponseHead head_;
  std::deque<http::ResponseHead> interim_;  // complete 1xx heads not yet forwarded
  bool head_ready_ = false;
  bool bad_framing_ = false;
  bool tls_failure_ = false;  // curl's failure was a TLS one (tls_options.hpp); detail_ says why
  bool done_ = false;
  int curl_code_ = 0;
  bool timed_out_waiting_ = false;

  std::string filling_;  // what curl has delivered since the last read()
  std::string current_;  // what the last read() handed out; both keep their capacity
  bool recv_paused_ = false;

  std::span<const char> upload_pending_;
  bool upload_wanted_ = false;
  bool upload_eof_ = false;
  bool send_paused_ = false;
  std::shared_ptr<void> companion_;
};

}  // namespace relay::upstream
