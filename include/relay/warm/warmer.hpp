// Cache warming ([[warm]]): each source's URLs are requested through
// relay's own request path (http::Service, the same one clients reach), so
// they are routed, keyed, coalesced and stored exactly as a client's
// request would be; a URL that is already fresh costs a lookup. A source
// runs at start-up and then every `every`, at most `rate` requests per
// second and `concurrency` at once; each run is logged (start, progress
// every 30 s, summary) and counted (relay_warm_*).
//
// Lives on one worker's loop (the first): its requests use that loop's
// curl multi like any of its clients'. A reload that changes [[warm]]
// stops the running sources after their requests in flight and starts the
// new ones; a drain cuts every request at once (warming is nobody's
// response). Invariant: used from that loop's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/http/service.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/util/task_group.hpp"
#include "relay/warm/url_sources.hpp"

namespace relay::warm {

class Warmer {
 public:
  Warmer(boost::asio::io_context& io, http::Service& service, metrics::Metrics& metrics);
  Warmer(const Warmer&) = delete;
  Warmer& operator=(const Warmer&) = delete;

  // Starts the sources of `config`, replacing the running ones when they
  // differ (a reload); the same sources keep their schedule.
  void apply(const config::Config& config);
  // A drain: stops every source and cuts its requests.
  void cancel();
  bool idle() const noexcept { return tasks_.empty(); }
  // Called on the loop when the last task has ended.
  std::function<void()> on_idle;

 private:
  struct Source;
  boost::asio::awaitable<void> run_source(std::shared_ptr<Source> source);
  boost::asio::awaitable<void> run_once(std::shared_ptr<Source> source);
  // The run's URLs: the list file read, or the sitemap fetched; an error
  // text when there are none to be had.
  boost::asio::awaitable<std::vector<WarmTarget>> collect(Source& source, std::string& error);
  boost::asio::awaitable<std::vector<WarmTarget>> collect_sitemap(Source& source, std::string& error);
  // One GET through the service; the body is read and dropped, or kept
  // up to keep_body bytes (a sitemap).
  struct Answer {
    int status = 0;  // 0: no response
    std::string x_cache;
    std::string cache_status;
    std::string body;
    bool complete = false;  // the whole body arrived (and fitted)
  };
  boost::asio::awaitable<Answer> get(const WarmTarget& target,
                                     const std::vector<std::pair<std::string, std::string>>& fields,
                                     std::size_t keep_body);
  boost::asio::awaitable<void> warm_one(std::shared_ptr<Source> source, WarmTarget target, std::size_t variant);

  boost::asio::io_context& io_;
  http::Service& service_;
  metrics::Metrics& metrics_;
  std::vector<config::WarmSource> configured_;
  std::vector<std::shared_ptr<Source>> running_;
  TaskGroup tasks_;
  bool cancelled_ = false;
};

}  // namespace relay::warm
