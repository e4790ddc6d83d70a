// The request path: one coroutine per request that decides between the
// cache and the origin (RFC 9111). One Handler per event-loop thread (it
// owns that loop's curl multi); storage, metrics, the access log and the
// key sessions (one origin fetch per key) are shared by all threads.
//
// The code is split by step: handler.cpp (route: the decision tree and the
// lookup), deliver.cpp (answering from storage: conditionals, ranges),
// fetch.cpp (going to the origin: validation outcomes, storing,
// invalidation), follow.cpp (streaming another request's fill),
// peer_fill.cpp (another instance's fill, through Redis), revalidate.cpp
// (stale-while-revalidate in the background). Who fills a key is decided by
// key_session.hpp; every body moves through pump.hpp. The handler speaks
// http::ResponseSink and http::BodySource only: no socket, no wire format.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "relay/admin/cidr.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/origin_verdict.hpp"
#include "relay/cache/policy.hpp"
#include "relay/cache/status.hpp"
#include "relay/cache/target.hpp"
#include "relay/config/config.hpp"
#include "relay/gateway/rate_limit_policy.hpp"
#include "relay/http/extra_fields_sink.hpp"
#include "relay/http/request.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/http/body.hpp"
#include "relay/http/service.hpp"
#include "relay/proxy/access_log.hpp"
#include "relay/proxy/upstreams.hpp"
#include "relay/proxy/key_session.hpp"
#include "relay/proxy/refresh_ahead.hpp"
#include "relay/proxy/resuming_source.hpp"
#include "relay/storage/storage.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "relay/upstream/transfer.hpp"
#include "relay/util/string_stash.hpp"
#include "relay/util/pooled_frame.hpp"
#include "relay/util/task_group.hpp"

namespace relay::purge {
class Purger;
}

namespace relay::proxy {

struct Shared {
  // The configuration this Handler serves with, whole: a reload builds a
  // new Handler (server/proxy_service.hpp), never changes this one's.
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<storage::Storage> storage;
  metrics::Metrics& metrics;
  AccessLog& access_log;
  KeySessions& sessions;  // who fills which key, here and across the fleet
  purge::Purger* purger = nullptr;  // the PURGE method and the fill guard; null: neither
  gateway::Origins* origins = nullptr;  // the origin pools' state; required
  gateway::RateLimiter* rate_limiter = nullptr;  // the buckets of every rate limit; null: no limits
  RefreshAhead* refresh_ahead = nullptr;  // popular objects' hit counts; null: no refresh-ahead
};

// What storage holds for one request, after following a Vary marker.
struct Lookup {
  Lookup() = default;
  Lookup(const Lookup&) = default;
  Lookup(Lookup&&) = default;
  Lookup& operator=(const Lookup&) = default;
  Lookup& operator=(Lookup&&) = default;
  // Its strings' buffers go back for the next request's (util/string_stash.hpp).
  ~Lookup() {
    util::recycle_string(key.primary);
    if (key.variant) util::recycle_string(*key.variant);
    util::recycle_string(vary_names);
    util::recycle_string(generation);
    if (hit) util::recycle_strings(hit->meta.internal.tags);
  }

  // key.primary is the cache key of the URL; with key.variant, where this
  // request's variant lives. One key, so a hit copies the URL's key nowhere.
  storage::CacheKey key;
  bool storable = true;  // false: this request's variant cannot be stored
  std::optional<storage::Hit> hit;
  std::string vary_names;   // from the Vary index under `primary`, "" when none
  std::string generation;   // that index's generation
  bool vary_miss = false;   // an index exists but not this variant

  const std::string& primary() const noexcept { return key.primary; }
  // Where this request's variant lives; null when it cannot be stored.
  const storage::CacheKey* storage_key() const noexcept { return storable ? &key : nullptr; }
  void key_url() noexcept {
    if (key.variant) util::recycle_string(*key.variant);
    key.variant.reset();
    storable = true;
  }
  // This request's variant under the index in vary_names and generation;
  // false, and not storable, for Vary: * (it never matches).
  bool key_variant_for(const http::Headers& request);
  void key_variant(std::string_view generation, std::string_view secondary) {
    key.set_variant(generation, secondary);
    storable = true;
  }
};

class Handler final : public http::Service {
 public:
  // Every request runs a handful of Handler coroutines whose frames are too
  // large for Asio's recycling (util/pooled_frame.hpp).
  using coroutine_frames = util::PooledFrames;

  // multis: this loop's curl multi handle per origin pool (Config::origins order).
  Handler(Shared shared, std::span<upstream::CurlMulti* const> multis);

  // Answers one request completely (or leaves out.keep_alive() false when
  // the connection cannot carry another request), then logs it.
  boost::asio::awaitable<void> serve(http::Request& req, http::BodySource& body,
                                     http::ResponseSink& out) override;

  // The access log line of a request the server refused before serve()
  // (400 malformed, 408 head timeout, 413 declared body too large, 414,
  // 431, 501): what was read of it, the
  // status and the body bytes sent.
  void log_refused(http::Request& req, int status, std::uint64_t bytes, double seconds) override;

  // The request-body limit (0 = none), asked by the session after the head
  // and before any 100 Continue. Today [server] max_body_size for every
  // request; a per-route limit is looked up here (the raw head: normalise
  // its target the way route() does before matching).
  std::uint64_t body_limit_for(const http::Request& req) const override;

  std::size_t background_tasks() const noexcept { return background_.size(); }
  // Terminal cancellation of every background task (shutdown grace elapsed).
  void cancel_background() { background_.cancel(); }
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
    WritePermit* fill = nullptr;                            // set when this request fills for followers
    const cache::RequestFacts* request = nullptr;           // parsed once by route; required with a rule
  };
  // The origin's response head as the cache sees it.
  struct OriginAnswer {
    http::ResponseHead head;  // through prepare_head
    cache::ResponseFacts facts;
    std::chrono::system_clock::time_point request_time;
    std::chrono::system_clock::time_point response_time;
    // cache::vary_names of the head: what a stored copy varies on. Not in
    // the facts, which every hit computes and which need only vary_star.
    std::string vary = {};
  };
  struct FollowResult {
    // TakeOver: the writer kept this follower waiting past its patience;
    // `given_up` is its fill, which this request may replace as writer.
    enum Kind { Answered, Alone, Retry, TakeOver } kind = Alone;
    Outcome outcome;
    std::shared_ptr<Fill> given_up;
  };

  // handler.cpp
  boost::asio::awaitable<Outcome> route(http::Request& req, http::BodySource& body,
                                        http::ResponseSink& out);
  // A GET/HEAD the cache may answer: the stored response, another
  // request's fill, or the origin through the key's session.
  boost::asio::awaitable<Outcome> serve_cacheable(http::Request& req, http::BodySource& body,
                                                  http::ExtraFieldsSink& out, const cache::ResolvedRule& rule,
                                                  const cache::RequestFacts& request, cache::CacheKey key);
  // Serves a stored response the request may have as it is (fresh, or stale
  // where allowed). nullopt when it must be validated first (its verdict is
  // then in plan.classification), or when its body failed before anything
  // was sent (then `found.hit` is reset).
  boost::asio::awaitable<std::optional<Outcome>> answer_stored(const http::Request& req,
                                                               const cache::ResolvedRule& rule, Lookup& found,
                                                               FetchPlan& plan, http::ResponseSink& out);
  boost::asio::awaitable<Lookup> lookup(std::string primary, const http::Request& req);
  // Looks found.key.primary up again, found's other members reset first.
  boost::asio::awaitable<void> look_up(Lookup& found, const http::Request& req);
  // Takes the request's token of the rate limit; the answer then carries
  // the RateLimit fields. An Outcome when it was refused (429 written).
  boost::asio::awaitable<std::optional<Outcome>> admit(const http::Request& req, http::ExtraFieldsSink& out);
  // Rewrites the request into what the origin receives: Host from the
  // normalised authority, the rule's stripped fields gone, the normalised target.
  void forward_as(http::Request& req, const cache::Target& target, const cache::ResolvedRule& rule) const;

  // upgrade.cpp: a request to switch protocols that relay tunnels
  // (WebSocket): the handshake goes to the origin on a connection of its
  // own; a 101 turns both connections into a tunnel (tunnel.hpp), any
  // other answer is forwarded as an uncached response.
  boost::asio::awaitable<Outcome> serve_upgrade(const http::Request& req, std::string protocol,
                                                http::ResponseSink& out);
  // The protocol of req's offer that relay may tunnel, "" for none. The
  // one place that decides which upgrades pass: [server] upgrades today.
  std::string tunnel_protocol(const http::Request& req) const;
  bool upgrade_allowed(const http::Request& req, std::string_view token) const;

  // purge_method.cpp: PURGE from a client in [purge] allow.
  boost::asio::awaitable<Outcome> serve_purge(const http::Request& req, const cache::Target& target,
                                              http::ResponseSink& out);

  // follow.cpp
  boost::asio::awaitable<FollowResult> follow(const http::Request& req, Subscription fill, std::string_view fwd,
                                              http::ResponseSink& out);
  boost::asio::awaitable<void> serve_metrics(const http::Request& req, http::ResponseSink& out);

  // peer_fill.cpp
  // What the shared store shows of another instance's fill of this request's key.
  PeerProbe peer_probe(const http::Request& req, const cache::RequestFacts& request, const Lookup& found,
                       const cache::ResolvedRule& rule);
  boost::asio::awaitable<Outcome> stream_peer_fill(const http::Request& req, storage::Hit partial, FetchPlan& plan,
                                                   http::ResponseSink& out);
  // Stores a body this instance finished from the origin for a peer that
  // died filling it: its fill (complete) holds every byte.
  boost::asio::awaitable<void> store_resumed(const std::string& target, storage::EntryMeta meta, const Fill& fill,
                                             const storage::CacheKey& key);

  // resuming_source.cpp: the origin request for the rest of this request's
  // body from an offset, on the representation `validator` names.
  ResumingSource::OpenRest rest_from_origin(const http::Request& req, std::string validator);

  // deliver.cpp
  // nullopt: the stored body failed before anything was sent (a damaged
  // entry is dropped by then); the caller answers the request otherwise.
  boost::asio::awaitable<std::optional<Outcome>> deliver(const http::Request& req, storage::Hit hit,
                                                         cache::CacheStatusInfo info, cache::Seconds age,
                                                         http::ResponseSink& out);
  // deliver for callers with no other answer at hand: such a failure is a 503.
  boost::asio::awaitable<Outcome> deliver_or_fail(const http::Request& req, storage::Hit hit,
                                                  cache::CacheStatusInfo info, cache::Seconds age,
                                                  http::ResponseSink& out);

  // fetch.cpp: start the transfer, ask the origin verdict, act on it, forward.
  // `out` null: no client (a background revalidation): the response only
  // updates the store and the fill's followers.
  boost::asio::awaitable<Outcome> fetch(const http::Request& req, http::BodySource& body,
                                        http::ResponseSink* out, FetchPlan plan);
  // Carries out a Store / ShareOnly / PassThrough verdict: opens the store,
  // publishes the head to followers or lets them go, updates what is
  // stored. Returns the writer the body goes into (null: not stored).
  boost::asio::awaitable<std::unique_ptr<storage::BodyWriter>> act_on_verdict(const http::Request& req,
                                                                              FetchPlan& plan,
                                                                              const OriginAnswer& answer,
                                                                              cache::OriginVerdict& verdict,
                                                                              cache::CacheStatusInfo& info);
  // Pumps the origin's body to the client, the store and the followers;
  // first_bytes: the body's first chunk, already read from the transfer.
  boost::asio::awaitable<Outcome> forward_response(const http::Request& req, upstream::Transfer& transfer,
                                                   std::optional<std::span<const char>> first_bytes,
                                                   const OriginAnswer& answer,
                                                   std::unique_ptr<storage::BodyWriter> writer, FetchPlan& plan,
                                                   cache::CacheStatusInfo& info, http::ResponseSink* out);
  boost::asio::awaitable<Outcome> serve_stale_on_error(const http::Request& req, FetchPlan& plan,
                                                       std::optional<int> origin_status,
                                                       http::ResponseSink& out);
  boost::asio::awaitable<void> respond_upstream_error(const http::Request& req, const error_code& error, int status,
                                                      cache::CacheStatusInfo& info, http::ResponseSink* out);
  boost::asio::awaitable<Outcome> finish_revalidation(const http::Request& req, FetchPlan& plan,
                                                      const OriginAnswer& not_modified, http::Headers freshened,
                                                      http::ResponseSink* out);
  // Opens a writer for a response the verdict stores (writing a Vary marker
  // first when needed); null when storage fails. Sets the lookup's
  // storage_key to where it goes.
  boost::asio::awaitable<std::unique_ptr<storage::BodyWriter>> open_store(const http::Request& req,
                                                                          FetchPlan& plan,
                                                                          const OriginAnswer& answer,
                                                                          cache::Seconds keep_for);
  boost::asio::awaitable<void> invalidate_after(const http::Request& req, const http::ResponseHead& head);
  boost::asio::awaitable<void> apply_stored_update(FetchPlan& plan, cache::StoredUpdate update,
                                                   http::Headers freshened,
                                                   std::chrono::system_clock::time_point request_time);
  upstream::UpstreamRequest upstream_request(const http::Request& req, http::BodySource* body,
                                             const FetchPlan& plan) const;

  // After a client's response has ended: commits what was stored and ends
  // the fill (followers then find the entry), off the client's path.
  boost::asio::awaitable<void> commit_fill(std::string target, std::unique_ptr<storage::BodyWriter> writer,
                                           WritePermit fill);

  // revalidate.cpp
  // Runs `work` in the handler's background group; `what` names it in logs.
  void spawn_background(std::string what, boost::asio::awaitable<void> work);
  // Why a stored response is revalidated with no client waiting.
  enum class Background { StaleWhileRevalidate, RefreshAhead };
  // Starts one background revalidation of the stored response `found`
  // holds; false when another fill of its key runs already.
  bool revalidate_in_background(const http::Request& req, const cache::ResolvedRule& rule, const Lookup& found,
                                Background why);
  // A fresh hit: counts it, and refreshes the response ahead of its expiry
  // when it is popular ([cache.refresh_ahead]).
  void refresh_if_popular(const http::Request& req, const cache::ResolvedRule& rule, const Lookup& found,
                          const cache::Classification& verdict);
  // Ends one refresh-ahead slot of the tracker, whatever becomes of the task.
  struct RefreshSlot {
    RefreshAhead* tracker = nullptr;
    RefreshSlot(RefreshAhead* t) : tracker(t) {}
    RefreshSlot(RefreshSlot&& other) noexcept : tracker(std::exchange(other.tracker, nullptr)) {}
    RefreshSlot& operator=(RefreshSlot&&) = delete;
    ~RefreshSlot() {
      if (tracker) tracker->finished();
    }
  };
  boost::asio::awaitable<void> background_revalidation(http::Request req, cache::ResolvedRule rule, Lookup found,
                                                       WritePermit fill, Background why, RefreshSlot slot);

  void add_response_fields(http::Headers& headers, const http::Request& req,
                           const cache::CacheStatusInfo& info) const;
  // Removes what a client never sees: RFC 9213 targeted fields (when so
  // configured) and purge tag fields (unless purge.forward_tag_headers).
  void strip_for_client(http::Headers& headers) const;

  // The request's route (req.route, set by route()).
  const config::Route& route_of(const http::Request& req) const { return cfg_.routes[req.route]; }
  // Whether a client's no-cache / max-age=0 / min-fresh may send it to the origin.
  // The rule's immutable / honour_client_no_cache, else the route's, else [cache]'s.
  bool honours_client_no_cache(const http::Request& req, const cache::ResolvedRule& rule) const;

  Shared shared_;
  const config::Config& cfg_;
  boost::asio::io_context& io_;
  Upstreams upstreams_;
  // Host for an HTTP/1.0 request without one: the fallback route's first member.
  std::string default_host_;
  cache::ResolvedRules rules_;  // every cache rule of cfg_, resolved once
  admin::Allowlist trusted_proxies_;  // [server] trusted_proxies
  // Per route: its rate_limit, else [server.rate_limit] (Config::routes order).
  std::vector<gateway::RateLimitPolicy> rate_limits_;
  const gateway::RateLimitPolicy& rate_limit_of(const http::Request& req) const { return rate_limits_[req.route]; }
  TaskGroup background_;
  // relay_route_requests_total's counters for every route label this
  // configuration can give (Request::route_label).
  std::unordered_map<std::string_view, metrics::Metrics::RouteCounters> route_counters_;
};

// The client's X-Request-ID when it is sane, else a fresh random one.
void assign_request_id(http::Request& req);

// What every origin response head goes through before relay looks at it,
// stores it or forwards it: hop-by-hop fields removed, a missing or invalid
// Date replaced by the time it was received (RFC 9110 §6.6.1). fetch.cpp.
void prepare_head(http::ResponseHead& head, std::chrono::system_clock::time_point response_time);

}  // namespace relay::proxy
