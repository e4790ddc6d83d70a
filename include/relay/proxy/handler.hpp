// The request path: one coroutine per request that decides between the
// cache and the origin (RFC 9111). One Handler per event-loop thread (it
// owns that loop's curl multi); storage, metrics, the access log and the
// coalescer (one origin fetch per key) are shared by all threads.
//
// The code is split by step: handler.cpp (route: the decision tree and the
// lookup), deliver.cpp (answering from storage: conditionals, ranges),
// fetch.cpp (going to the origin: validation outcomes, storing,
// invalidation), follow.cpp (streaming another request's fill),
// distributed.cpp and peer_fill.cpp (another instance's fill, through Redis),
// revalidate.cpp (stale-while-revalidate in the background).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "relay/cache/policy.hpp"
#include "relay/cache/status.hpp"
#include "relay/cache/target.hpp"
#include "relay/config/config.hpp"
#include "relay/http/request.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/access_log.hpp"
#include "relay/proxy/coalescer.hpp"
#include "relay/server/response_writer.hpp"
#include "relay/storage/distributed_lock.hpp"
#include "relay/storage/storage.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "relay/upstream/transfer.hpp"

namespace relay::proxy {

struct Shared {
  const config::Config& config;
  std::shared_ptr<storage::Storage> storage;
  metrics::Metrics& metrics;
  AccessLog& access_log;
  Coalescer& coalescer;
  std::shared_ptr<storage::DistributedLock> lock;  // null: coalescing stays within this instance
};

// What storage holds for one request, after following a Vary marker.
struct Lookup {
  std::string primary;      // the cache key of the URL
  std::optional<storage::CacheKey> storage_key;  // where this request's variant lives (none: cannot be stored)
  std::optional<storage::Hit> hit;
  std::string vary_names;   // from the Vary index under `primary`, "" when none
  std::string generation;   // that index's generation
  bool vary_miss = false;   // an index exists but not this variant
};

class Handler {
 public:
  Handler(Shared shared, upstream::CurlMulti& multi);

  // Answers one request completely (or leaves out.keep_alive() false when
  // the connection cannot carry another request), then logs it.
  boost::asio::awaitable<void> serve(http::Request& req, upstream::RequestBodySource& body,
                                     server::ResponseWriter& out);

  std::size_t background_tasks() const noexcept { return background_tasks_; }
  // Called on this handler's thread when the last background task ends.
  std::function<void()> on_background_idle;

 private:
  struct Outcome {
    cache::CacheStatusInfo info;
    double upstream_seconds = -1;
    // false for relay's own endpoints (/metrics): not counted in
    // relay_requests_total nor written to the access log.
    bool cache_traffic = true;
  };
  // The cache's view of a request that goes to the origin.
  struct FetchPlan {
    const cache::ResolvedRule* rule = nullptr;  // null: the cache is not involved
    Lookup* lookup = nullptr;
    std::optional<cache::Classification> classification;  // when a stored response exists
    std::string_view fwd = "uri-miss";                      // Cache-Status fwd reason
    FillGuard* fill = nullptr;                              // set when this request fills for followers
    const storage::DistributedLock::Held* lock = nullptr;   // the cross-instance lock this fill holds
  };
  // What the cross-instance lock says about a fill this instance wants to make.
  enum class Peer { Fill, Stored, Streaming, Degraded };
  struct FollowResult {
    enum Kind { Answered, Alone, Retry } kind = Alone;
    Outcome outcome;
  };

  // handler.cpp
  boost::asio::awaitable<Outcome> route(http::Request& req, upstream::RequestBodySource& body,
                                        server::ResponseWriter& out);
  boost::asio::awaitable<Lookup> lookup(const std::string& primary, const http::Request& req);
  // Rewrites the request into what the origin receives: Host from the
  // normalised authority, the rule's stripped fields gone, the normalised target.
  void forward_as(http::Request& req, const cache::Target& target, const cache::ResolvedRule& rule) const;

  // distributed.cpp
  boost::asio::awaitable<Peer> wait_for_peers(const http::Request& req, const Lookup& found,
                                              const cache::ResolvedRule& rule,
                                              std::optional<storage::DistributedLock::Held>& held,
                                              std::optional<storage::Hit>& in_progress);
  boost::asio::awaitable<void> keep_lock(const FetchPlan& plan, std::chrono::steady_clock::time_point& next);

  // follow.cpp
  boost::asio::awaitable<FollowResult> follow(const http::Request& req, std::shared_ptr<Fill> fill,
                                              std::string_view fwd, server::ResponseWriter& out);
  boost::asio::awaitable<void> serve_metrics(const http::Request& req, server::ResponseWriter& out);

  // peer_fill.cpp
  boost::asio::awaitable<Outcome> stream_peer_fill(const http::Request& req, storage::Hit partial, FetchPlan& plan,
                                                   server::ResponseWriter& out);
  boost::asio::awaitable<bool> resume_from_origin(const http::Request& req, const FetchPlan& plan,
                                                  const http::Headers& stored, std::uint64_t offset,
                                                  server::ResponseWriter& out, bool& client_gone);

  // deliver.cpp
  // nullopt: the stored body failed before anything was sent (a damaged
  // entry is dropped by then); the caller answers the request otherwise.
  boost::asio::awaitable<std::optional<Outcome>> deliver(const http::Request& req, storage::Hit hit,
                                                         cache::CacheStatusInfo info, cache::Seconds age,
                                                         server::ResponseWriter& out);
  // deliver for callers with no other answer at hand: such a failure is a 503.
  boost::asio::awaitable<Outcome> deliver_or_fail(const http::Request& req, storage::Hit hit,
                                                  cache::CacheStatusInfo info, cache::Seconds age,
                                                  server::ResponseWriter& out);

  // fetch.cpp
  boost::asio::awaitable<Outcome> fetch(const http::Request& req, upstream::RequestBodySource& body,
                                        server::ResponseWriter& out, FetchPlan plan);
  boost::asio::awaitable<Outcome> serve_stale_on_error(const http::Request& req, FetchPlan& plan,
                                                       std::optional<int> origin_status,
                                                       server::ResponseWriter& out);
  boost::asio::awaitable<void> respond_upstream_error(const http::Request& req, const error_code& error,
                                                      bool stale_forbidden, cache::CacheStatusInfo& info,
                                                      server::ResponseWriter& out);
  boost::asio::awaitable<Outcome> finish_revalidation(const http::Request& req, FetchPlan& plan,
                                                      const http::ResponseHead& not_modified,
                                                      std::chrono::system_clock::time_point request_time,
                                                      server::ResponseWriter& out);
  // Opens a writer for a storable response (writing a Vary marker first when
  // needed); null when not stored. Sets `key_out` to where it goes.
  // `decision` tells a refusal by policy (not Store) from a storage failure.
  boost::asio::awaitable<std::unique_ptr<storage::BodyWriter>> open_store(
      const http::Request& req, FetchPlan& plan, const http::ResponseHead& head,
      std::chrono::system_clock::time_point request_time, std::chrono::system_clock::time_point response_time,
      cache::StoreDecision& decision);
  boost::asio::awaitable<void> invalidate_after(const http::Request& req, const http::ResponseHead& head);
  boost::asio::awaitable<void> update_from_head(FetchPlan& plan, const http::ResponseHead& head,
                                                std::chrono::system_clock::time_point request_time);
  upstream::UpstreamRequest upstream_request(const http::Request& req, upstream::RequestBodySource* body,
                                             const FetchPlan& plan) const;

  // revalidate.cpp
  void revalidate_in_background(const http::Request& req, const cache::ResolvedRule& rule, const Lookup& found);
  boost::asio::awaitable<void> background_revalidation(http::Request req, cache::ResolvedRule rule, Lookup found,
                                                       FillGuard fill);

  void add_response_fields(http::Headers& headers, const http::Request& req,
                           const cache::CacheStatusInfo& info) const;
  void strip_targeted(http::Headers& headers) const;

  Shared shared_;
  const config::Config& cfg_;
  upstream::CurlMulti& multi_;
  std::string upstream_base_;    // scheme://authority of the origin
  std::string upstream_host_;    // authority, for Host when not preserving the client's
  std::string upstream_prefix_;  // path of upstream.url without a trailing '/', or empty
  std::size_t background_tasks_ = 0;
};

// The client's X-Request-ID when it is sane, else a fresh random one.
std::string request_id_for(const http::Request& req);

// What every origin response head goes through before relay looks at it,
// stores it or forwards it: hop-by-hop fields removed, a missing or invalid
// Date replaced by the time it was received (RFC 9110 §6.6.1). fetch.cpp.
void prepare_head(http::ResponseHead& head, std::chrono::system_clock::time_point response_time);

}  // namespace relay::proxy
