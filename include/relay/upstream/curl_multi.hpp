// One libcurl multi handle driven by one Asio event loop (the
// "multi_socket" API): curl tells us which sockets to watch and when to
// wake it; Asio waits; we call curl_multi_socket_action. No thread per
// request, and curl's connection cache gives pooled keep-alive connections.
//
// Invariants: every curl call happens on this loop's thread; curl's sockets
// are watched through descriptors that are released, never closed, by us;
// curl_multi_socket_action is never called from inside a curl callback.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <unordered_map>
#include <vector>

#include <curl/curl.h>

#include "relay/config/config.hpp"

namespace relay::upstream {

// Implemented by whoever owns an easy handle added to the multi.
class TransferSink {
 public:
  virtual ~TransferSink() = default;
  // The transfer ended (curl's CURLcode); the handle is already removed.
  virtual void on_done(int curl_code) = 0;
};

class CurlMulti {
 public:
  CurlMulti(boost::asio::io_context& io, const config::UpstreamConfig& cfg);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // The easy handle's CURLOPT_PRIVATE must point at its TransferSink.
  void add(CURL* easy);
  // Safe for handles that already finished.
  void remove(CURL* easy);

  // Easy handles are recycled: reset, but their DNS and TLS caches stay.
  CURL* acquire_easy();
  void release_easy(CURL* easy);

  boost::asio::io_context& io() noexcept { return io_; }

 private:
  struct Watch;
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void update_watch(int fd, int what);
  void arm(const std::shared_ptr<Watch>& watch);
  void socket_action(int fd, int events);
  void drain_messages();

  boost::asio::io_context& io_;
  CURLM* multi_;
  boost::asio::steady_timer timer_;
  std::unordered_map<int, std::shared_ptr<Watch>> watches_;
  std::vector<CURL*> idle_easies_;
};

}  // namespace relay::upstream
