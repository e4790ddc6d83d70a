// The request path, top-down:
//   serve  -> route -> metrics | bypass (method, no-store, rule) | lookup
//   lookup -> Fresh                 -> deliver (HIT)
//          -> stale, max-stale ok   -> deliver (STALE)
//          -> stale, SWR window     -> deliver (STALE) + one background revalidation
//          -> must validate / miss  -> coalesce: follow a fill running here, or
//                                      stream one running in another instance
//                                   -> fetch: conditional or plain request to the origin
// A request to switch to a protocol relay tunnels (WebSocket) leaves this
// path after forward_as: serve_upgrade (upgrade.cpp), never cached.
// Storage failures never fail a request: they count and fall through to the
// origin. Bodies stream chunk by chunk in both directions.
#include "relay/proxy/handler.hpp"

#include <prometheus/counter.h>

#include <random>

#include "relay/cache/facts.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/target.hpp"
#include "relay/cache/vary.hpp"
#include "relay/gateway/forwarded.hpp"
#include "relay/gateway/header_edits.hpp"
#include "relay/gateway/route_table.hpp"
#include "relay/http/problem.hpp"
#include "relay/proxy/vary_marker.hpp"
#include "relay/purge/tags.hpp"
#include "relay/util/error_table.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;
using steady = std::chrono::steady_clock;

namespace {
// 16 random hex digits into out, reusing its buffer.
void assign_random_hex(std::string& out) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto value = rng();
  out.resize(16);
  for (int i = 15; i >= 0; --i, value >>= 4) out[i] = "0123456789abcdef"[value & 0xf];
}

// Did the client itself ask to skip the stored response (RFC 9111 §5.2.1,
// Pragma folded in by request_facts, §5.4)?
bool client_asked_for_origin(const cache::RequestFacts& request) {
  return request.cc.no_cache || request.cc.max_age || request.cc.min_fresh;
}
}  // namespace

void assign_request_id(http::Request& req) {
  if (auto given = req.headers.get("x-request-id"); given && !given->empty() && given->size() <= 200) {
    bool printable = std::all_of(given->begin(), given->end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (printable) {
      req.request_id.assign(*given);
      return;
    }
  }
  assign_random_hex(req.request_id);
}

std::string new_vary_generation() {
  std::string generation;
  assign_random_hex(generation);
  return generation;
}

// The route label of a request's metrics: its cache rule's name, else its
// [[routes]] entry's (explicit or "routes[N]"), else "default". Bounded by
// the configuration.
namespace {
std::string_view route_label(const config::CacheRule* rule, const config::Route& route) {
  if (rule && rule->name && !rule->name->empty()) return *rule->name;
  return route.line != 0 ? std::string_view(route.name) : std::string_view("default");
}

// Every [[routes.cache_rules]] entry of the configuration.
std::vector<const config::CacheRule*> route_rules(const config::Config& cfg) {
  std::vector<const config::CacheRule*> out;
  for (const auto& route : cfg.routes)
    for (const auto& rule : route.cache_rules) out.push_back(&rule);
  return out;
}
}  // namespace

Handler::Handler(Shared shared, std::span<upstream::CurlMulti* const> multis)
    : shared_(std::move(shared)),
      cfg_(*shared_.config),
      io_(multis.front()->io()),
      upstreams_(cfg_, *shared_.origins, multis),
      default_host_(config::UpstreamUrl::parse(upstreams_.pool_of(cfg_.routes.size() - 1).members.front().url).authority),
      rules_(cfg_.cache, route_rules(cfg_)),
      trusted_proxies_(cfg_.server.trusted_proxies) {
  const auto count_route = [this](std::string_view label) {
    if (!route_counters_.contains(label)) route_counters_.emplace(label, shared_.metrics.route_counters(std::string(label)));
  };
  count_route("default");
  for (const auto& route : cfg_.routes) {
    count_route(route_label(nullptr, route));
    for (const auto& rule : route.cache_rules) count_route(route_label(&rule, route));
  }
  for (const auto& rule : cfg_.cache.rules) count_route(route_label(&rule, cfg_.routes.back()));
  for (const auto& route : cfg_.routes) {
    if (route.rate_limit)
      rate_limits_.emplace_back(*route.rate_limit, route.name, shared_.rate_limiter);
    else
      rate_limits_.emplace_back(cfg_.server.rate_limit, "default", shared_.rate_limiter);
  }
}

bool Handler::honours_client_no_cache(const http::Request& req, const cache::ResolvedRule& rule) const {
  if (const auto* r = rule.rule) {
    if (r->immutable.value_or(false)) return false;
    if (r->honour_client_no_cache) return *r->honour_client_no_cache;
  }
  return route_of(req).honour_client_no_cache.value_or(cfg_.cache.honour_client_no_cache);
}

asio::awaitable<void> Handler::serve(http::Request& req, http::BodySource& body,
                                     http::ResponseSink& out) {
  auto start = steady::now();
  if (req.request_id.empty()) assign_request_id(req);
  Outcome outcome = co_await route(req, body, out);
  // A path that ended without answering (client gone): nothing more to say.
  if (!out.head_sent()) out.abort();
  if (!outcome.cache_traffic || req.background) co_return;
  double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  shared_.metrics.record_request(outcome.info.status, elapsed, http::protocol_label(req));
  // Every label route() can set was resolved when this Handler was built.
  if (auto counters = route_counters_.find(req.route_label); counters != route_counters_.end())
    counters->second[static_cast<std::size_t>(outcome.info.status)]->Increment();
  if (shared_.access_log.enabled()) {
    AccessRecord record = request_record(req);
    record.status = out.status();
    record.cache = outcome.info.status;
    record.bytes = out.body_bytes();
    record.duration_seconds = elapsed;
    record.upstream_seconds = outcome.upstream_seconds;
    shared_.access_log.write(record);
  }
}

void Handler::log_refused(http::Request& req, int status, std::uint64_t bytes, double seconds) {
  if (!shared_.access_log.enabled()) return;
  if (req.request_id.empty()) assign_request_id(req);
  AccessRecord record = request_record(req);
  record.status = status;
  record.bytes = bytes;
  record.duration_seconds = seconds;
  shared_.access_log.write(record);
}

// The route's max_body_size, else [server]'s. Asked before the request path
// runs, so the raw head is normalised here as route() will do it.
std::uint64_t Handler::body_limit_for(const http::Request& req) const {
  // Most requests carry no body: no second normalisation on their path.
  if (!req.has_body) return cfg_.server.max_body_size;
  const auto normalized = cache::normalize_target(req.target, req.headers, req.scheme);
  if (normalized.ok) {
    const auto& target = normalized.target;
    if (auto route = gateway::match_route(cfg_.routes, target.authority, target.path))
      if (const auto& limit = cfg_.routes[*route].max_body_size) return *limit;
  }
  return cfg_.server.max_body_size;
}

asio::awaitable<Handler::Outcome> Handler::route(http::Request& req, http::BodySource& body,
                                                 http::ResponseSink& out) {
  if (req.peer_address.empty()) {
    req.peer_address = req.client_address;
    req.client_address = gateway::real_client(req.peer_address, req.headers, trusted_proxies_);
  }
  // Whatever answers a request under a rate limit carries its RateLimit fields.
  http::ExtraFieldsSink limited(out);
  // OPTIONS * names the server, not a resource: forwarded as it is.
  if (req.method == "OPTIONS" && req.target == "*") {
    req.route = cfg_.routes.size() - 1;
    if (auto refused = co_await admit(req, limited)) co_return *refused;
    co_return co_await fetch(req, body, &limited, FetchPlan{nullptr, nullptr, std::nullopt, "method"});
  }
  // One normalised target: the rules match it, the key is built from it and
  // the origin receives it, so none of them can disagree (cache poisoning).
  if (req.version_minor == 0 && !req.headers.contains("host")) req.headers.add("Host", default_host_);
  auto normalized = cache::normalize_target(req.target, req.headers, req.scheme);
  if (!normalized.ok) {
    log::info("rejecting request ", req.method, " ", req.target, " from ", req.client_address, ": ",
              normalized.error);
    shared_.metrics.record_client_error(400);
    co_await http::respond_problem(out, req, 400, "malformed-request", normalized.error);
    out.abort();
    Outcome refused;
    refused.info.status = CacheStatus::Bypass;
    co_return refused;
  }
  const auto& target = normalized.target;
  // Only with metrics.listen = "public"; else they are served elsewhere (admin/).
  if (cfg_.metrics.enabled && cfg_.metrics.listen.on == config::MetricsListen::On::Public &&
      target.path == cfg_.metrics.path && !req.has_body &&
      (req.method == "GET" || req.method == "HEAD")) {
    co_await serve_metrics(req, out);
    Outcome own;
    own.cache_traffic = false;
    co_return own;
  }
  if (req.method == "PURGE" && !cfg_.purge.allow.empty() && shared_.purger) {
    co_return co_await serve_purge(req, target, out);
  }
  const auto route = gateway::match_route(cfg_.routes, target.authority, target.path);
  if (!route) {
    log::info("no route for ", req.method, " ", target.authority, target.path, " from ", req.client_address);
    co_await http::respond_problem(out, req, 404, "no-route", "no [[routes]] entry takes this host and path");
    Outcome refused;
    refused.info.status = CacheStatus::Bypass;
    co_return refused;
  }
  req.route = *route;
  const auto& rule = rules_.resolve(target.path, route_of(req).cache_rules);
  req.route_label = route_label(rule.rule, route_of(req));
  forward_as(req, target, rule);
  if (limited.can_switch_protocols()) {
    if (auto protocol = tunnel_protocol(req); !protocol.empty()) {
      // A handshake spends a token like any request; the tunnel after it does not.
      if (auto refused = co_await admit(req, limited)) co_return *refused;
      co_return co_await serve_upgrade(req, std::move(protocol), limited);
    }
  }

  const bool read = req.method == "GET" || req.method == "HEAD";
  // A body on GET/HEAD has no defined meaning (RFC 9110 §9.3.1) but an
  // origin may still reflect it: such a request never touches the cache.
  auto request = cache::request_facts(req.method, req.headers);
  if (!honours_client_no_cache(req, rule)) cache::ignore_client_revalidation(request);
  const bool cacheable = read && !rule.bypass && !req.has_body && cache::request_may_use_cache(request);
  // The rate limit, before the cache or the origin is touched; with
  // exempt_hits a cacheable request is admitted once it is known not to be
  // a hit (serve_cacheable), so hits never spend a token.
  if (!cacheable || !rate_limit_of(req).exempt_hits()) {
    if (auto refused = co_await admit(req, limited)) co_return *refused;
  }
  if (!cacheable) {
    const std::string_view fwd = read ? "bypass" : "method";
    co_return co_await fetch(req, body, &limited, FetchPlan{nullptr, nullptr, std::nullopt, fwd});
  }
  co_return co_await serve_cacheable(req, body, limited, rule, request,
                                     cache::make_key(target, req.headers, rule.key));
}

asio::awaitable<std::optional<Handler::Outcome>> Handler::admit(const http::Request& req,
                                                                http::ExtraFieldsSink& out) {
  const auto& policy = rate_limit_of(req);
  if (!policy.active() || req.background) co_return std::nullopt;
  auto admission = co_await policy.admit(req);
  if (!admission.refused()) {
    out.add(admission.fields);
    co_return std::nullopt;
  }
  co_await policy.refuse(req, admission, out);
  Outcome refused;
  refused.info.status = CacheStatus::Bypass;
  co_return refused;
}

asio::awaitable<Handler::Outcome> Handler::serve_cacheable(http::Request& req, http::BodySource& body,
                                                           http::ExtraFieldsSink& out,
                                                           const cache::ResolvedRule& rule,
                                                           const cache::RequestFacts& request,
                                                           cache::CacheKey key) {
  bool admitted = !rate_limit_of(req).exempt_hits();  // else route() left it to here
  // A follower whose writer updated the store (304, stale served) looks again.
  std::shared_ptr<Fill> given_up;  // a fill that kept this request waiting too long
  Lookup found;
  found.key.primary = std::move(key.primary);
  for (int attempt = 0;; ++attempt) {
    co_await look_up(found, req);
    FetchPlan plan{&rule, &found, std::nullopt, found.vary_miss ? "vary-miss" : "uri-miss"};
    plan.request = &request;
    if (found.hit) {
      if (auto answered = co_await answer_stored(req, rule, found, plan, out)) co_return *answered;
      if (plan.classification) plan.fwd = client_asked_for_origin(request) ? "request" : "stale";
    }
    if (request.cc.only_if_cached) {
      // RFC 9111 §5.2.1.7: nothing usable stored, and the origin may not be asked.
      cache::CacheStatusInfo info;
      info.status = CacheStatus::Miss;
      info.fwd = plan.fwd;
      http::Headers extra;
      add_response_fields(extra, req, info);
      co_await http::respond_problem(out, req, 504, "not-cached",
                                     "not in the cache, and the request says only-if-cached",
                                     std::move(extra));
      co_return Outcome{info};
    }
    // Not a hit: from here on the request costs the origin (or a fill's share of it).
    if (!admitted) {
      admitted = true;
      if (auto refused = co_await admit(req, out)) co_return *refused;
    }

    // One origin fetch per key: the first request fills, the others follow it.
    // Range requests that miss go to the origin as they are, so they do not share.
    KeySessions::Acquired session;
    if (rule.coalesce && req.method == "GET" && !req.headers.contains("range") && found.storage_key()) {
      session = co_await shared_.sessions.acquire(found.storage_key()->flat(), peer_probe(req, request, found, rule),
                                                  given_up);
    }
    using Kind = KeySessions::Acquired::Kind;
    switch (session.kind) {
      case Kind::Follow: {
        auto followed = co_await follow(req, std::move(session.follow), plan.fwd, out);
        if (followed.kind == FollowResult::Answered) co_return followed.outcome;
        if (followed.kind == FollowResult::Retry && attempt < 2) continue;
        if (followed.kind == FollowResult::TakeOver && !given_up) {
          given_up = std::move(followed.given_up);
          continue;
        }
        break;  // alone
      }
      case Kind::Stored:
        if (attempt < 2) continue;
        break;
      case Kind::PeerStream:
        plan.fill = &session.permit;
        co_return co_await stream_peer_fill(req, std::move(*session.in_progress), plan, out);
      case Kind::Fill:
        plan.fill = &session.permit;
        break;
      case Kind::Alone:
        break;
    }
    auto outcome = co_await fetch(req, body, &out, std::move(plan));
    if (session.permit) co_await session.permit.release_lock();
    co_return outcome;
  }
}

asio::awaitable<std::optional<Handler::Outcome>> Handler::answer_stored(const http::Request& req,
                                                                       const cache::ResolvedRule& rule, Lookup& found,
                                                                       FetchPlan& plan, http::ResponseSink& out) {
  // Entries stored before Set-Cookie was withheld (or under another rule)
  // must not replay one user's cookie either.
  if (rule.policy.set_cookie != cache::SetCookiePolicy::Store) found.hit->meta.headers.remove("set-cookie");
  const auto& meta = found.hit->meta;
  const auto now = std::chrono::system_clock::now();
  const auto stored = cache::response_facts(meta.status, meta.headers, rule.policy.targeted_fields, now);
  auto verdict = cache::classify(*plan.request, {stored, meta.request_time, meta.response_time, meta.internal.stale_at}, rule.policy, now);
  cache::CacheStatusInfo info;
  info.ttl = (verdict.lifetime - verdict.age).count();
  switch (verdict.verdict) {
    case cache::Verdict::Fresh:
      info.status = CacheStatus::Hit;
      refresh_if_popular(req, rule, found, verdict);
      break;
    case cache::Verdict::StaleAcceptable:
      info.status = CacheStatus::Stale;
      info.detail = "max-stale";
      break;
    case cache::Verdict::StaleWhileRevalidate:
      revalidate_in_background(req, rule, found, Background::StaleWhileRevalidate);
      info.status = CacheStatus::Stale;
      info.detail = "stale-while-revalidate";
      break;
    case cache::Verdict::MustValidate:
      plan.classification = verdict;
      co_return std::nullopt;
  }
  auto answered = co_await deliver(req, std::move(*found.hit), info, verdict.age, out);
  // The stored body failed before anything was sent: go on as a miss.
  if (!answered) found.hit.reset();
  co_return answered;
}

void Handler::forward_as(http::Request& req, const cache::Target& target, const cache::ResolvedRule& rule) const {
  // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
  req.headers.set("Host", target.authority);
  cache::strip_request_headers(req.headers, rule);
  gateway::apply_edits(req.headers, route_of(req).request_headers);
  // Swapped, so both keep their buffers across the connection's requests.
  std::swap(req.received_target, req.target);
  req.target.clear();
  cache::append_forwarded_target(req.target, target, rule.key);
}

asio::awaitable<Lookup> Handler::lookup(std::string primary, const http::Request& req) {
  Lookup found;
  found.key.primary = std::move(primary);
  co_await look_up(found, req);
  co_return found;
}

asio::awaitable<void> Handler::look_up(Lookup& found, const http::Request& req) {
  found.hit.reset();
  found.vary_names.clear();
  found.generation.clear();
  found.vary_miss = false;
  found.key_url();
  auto got = co_await shared_.storage->get(found.key);
  if (!got) {
    log::warn_for(got.error(), "storage lookup failed, passing through: ", got.error().message());
    co_return;
  }
  if (!got->has_value()) co_return;
  if (!storage::is_vary_index((*got)->meta)) {
    found.hit = std::move(**got);
    co_return;
  }
  auto& index = (*got)->meta.internal.vary;
  found.vary_names = std::move(index.names);
  found.generation = std::move(index.generation);
  found.vary_miss = true;
  if (!found.key_variant_for(req.headers)) co_return;
  auto variant = co_await shared_.storage->get(found.key);
  if (!variant) {
    log::warn_for(variant.error(), "storage lookup failed, passing through: ", variant.error().message());
  } else if (variant->has_value()) {
    found.hit = std::move(**variant);
    found.vary_miss = false;
  }
}

bool Lookup::key_variant_for(const http::Headers& request) {
  std::string variant = util::recycled_string();
  variant.append(generation).append(1, '\x1f');
  if (!cache::append_vary_key(variant, vary_names, request)) {
    util::recycle_string(variant);
    key_url();
    storable = false;
    return false;
  }
  if (key.variant) util::recycle_string(*key.variant);
  key.variant = std::move(variant);
  storable = true;
  return true;
}

asio::awaitable<void> Handler::serve_metrics(const http::Request& req, http::ResponseSink& out) {
  http::Headers extra;
  extra.add("Cache-Control", "no-store");
  extra.add("X-Request-ID", req.request_id);
  co_await out.write_simple(200, "text/plain; version=0.0.4; charset=utf-8", shared_.metrics.render(),
                            std::move(extra));
}

void Handler::add_response_fields(http::Headers& headers, const http::Request& req,
                                  const cache::CacheStatusInfo& info) const {
  // Values are built in one buffer per thread and copied into the fields'
  // recycled buffers: a hit allocates nothing here.
  thread_local std::string value;
  value.clear();
  if (headers.append_combined("via", value)) value += ", ";
  value += "1.1 relay";
  headers.set_copy("Via", value);
  headers.set_copy("X-Cache", cache::header_value(info.status));
  // RFC 9211 §2: caches nearer the origin come first; relay adds its member last.
  value.clear();
  if (headers.append_combined("cache-status", value)) value += ", ";
  cache::append_cache_status(value, cfg_.cache.status_name, info);
  headers.set_copy("Cache-Status", value);
  headers.set_copy("X-Request-ID", req.request_id);
  gateway::apply_edits(headers, route_of(req).response_headers);
}

void Handler::strip_for_client(http::Headers& headers) const {
  if (!cfg_.purge.forward_tag_headers) purge::strip_tag_fields(headers, cfg_.purge.tag_headers);
  if (!cfg_.cache.strip_targeted_fields) return;
  for (const auto& name : cfg_.cache.targeted_fields) headers.remove(name);
}

}  // namespace relay::proxy
