// Going to the origin. For a cacheable request the outcome decides what
// the cache does (RFC 9111 §4.3, RFC 5861):
//   304 to our validators      -> freshen the stored response, serve it (REVALIDATED)
//   5xx or unreachable, stale-if-error allowed -> serve the stored one (STALE)
//   storable response          -> stream to the client and into storage (MISS / EXPIRED)
//   anything else              -> stream to the client only (BYPASS)
// Unsafe methods that succeed invalidate what they touched (§4.4).
#include "relay/cache/invalidation.hpp"
#include "relay/cache/cache_control.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/target.hpp"
#include "relay/cache/validation.hpp"
#include "relay/cache/vary.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/vary_marker.hpp"
#include "relay/util/log.hpp"
#include "relay/util/time.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;
using steady = std::chrono::steady_clock;
using sys = std::chrono::system_clock;

namespace {

bool is_timeout(const error_code& e) {
  return e == Errc::upstream_timeout || e == Errc::upstream_first_byte_timeout ||
         e == Errc::upstream_idle_timeout;
}

// RFC 5861 §4: the origin errors that stale-if-error covers.
bool stale_if_error_status(int status) { return status == 500 || status == 502 || status == 503 || status == 504; }

// RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10: the stored response may never be served stale.
bool forbids_stale(const http::Headers& stored) {
  auto cc = cache::parse_cache_control(stored);
  return cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage || cc.no_cache;
}

// How long storage should keep a response: fresh, then usable stale, then
// long enough to still be revalidated cheaply ([storage] keep_time).
std::chrono::seconds keep_for(const http::ResponseHead& head, const cache::Policy& policy,
                              config::Duration keep_time) {
  auto cc = cache::effective_cache_control(head.headers, policy.targeted_fields);
  auto window = [](const std::optional<std::int64_t>& directive, cache::Seconds fallback) {
    return directive ? cache::Seconds(*directive) : fallback;
  };
  auto stale = std::max(window(cc.stale_while_revalidate, policy.stale_while_revalidate),
                        window(cc.stale_if_error, policy.stale_if_error));
  // Saturating: a lifetime reaching past what the clock holds must keep
  // the entry "forever", not wrap into a negative keep time.
  return saturating_sum(saturating_sum(cache::freshness_lifetime(head.headers, policy, head.status), stale),
                        std::chrono::duration_cast<std::chrono::seconds>(keep_time));
}

}  // namespace

void prepare_head(http::ResponseHead& head, sys::time_point response_time) {
  http::strip_hop_by_hop(head.headers);
  cache::stamp_date(head.headers, response_time);
}

asio::awaitable<Handler::Outcome> Handler::fetch(const http::Request& req, upstream::RequestBodySource& body,
                                                 server::ResponseWriter& out, FetchPlan plan) {
  Outcome outcome;
  auto& info = outcome.info;
  info.fwd = plan.fwd;
  info.status = plan.rule ? CacheStatus::Miss : CacheStatus::Bypass;
  const bool had_stored = plan.lookup && plan.lookup->hit;
  const bool sent_validators = had_stored && !cache::validators_for(plan.lookup->hit->meta.headers).empty();

  auto started_at = steady::now();
  auto request_time = sys::now();
  // Interim (1xx) responses reach this client only: never followers, never storage.
  auto started =
      co_await upstream::Transfer::start(multi_, cfg_.upstream, upstream_request(req, &body, plan), &out);
  outcome.upstream_seconds = std::chrono::duration<double>(steady::now() - started_at).count();
  if (!started) {
    if (started.error() != Errc::client_closed && plan.classification && plan.classification->stale_if_error) {
      shared_.metrics.record_upstream_error(started.error());
      if (plan.fill) (*plan.fill)->release(Release::Retry);
      auto stale = co_await serve_stale_on_error(req, plan, std::nullopt, out);
      stale.upstream_seconds = outcome.upstream_seconds;
      co_return stale;
    }
    bool stale_forbidden = had_stored && forbids_stale(plan.lookup->hit->meta.headers);
    co_await respond_upstream_error(req, started.error(), stale_forbidden, info, out);
    co_return outcome;
  }
  auto& transfer = **started;
  shared_.metrics.record_upstream_response(transfer.head().status);
  http::ResponseHead head = transfer.head();
  auto response_time = sys::now();
  prepare_head(head, response_time);
  info.fwd_status = head.status;

  if (head.status == 304 && sent_validators) {
    auto validated = co_await finish_revalidation(req, plan, head, request_time, out);
    validated.upstream_seconds = outcome.upstream_seconds;
    co_return validated;
  }
  if (stale_if_error_status(head.status) && plan.classification && plan.classification->stale_if_error) {
    if (plan.fill) (*plan.fill)->release(Release::Retry);
    auto stale = co_await serve_stale_on_error(req, plan, head.status, out);
    stale.upstream_seconds = outcome.upstream_seconds;
    co_return stale;
  }
  if (cache::invalidates(req.method, head.status)) co_await invalidate_after(req, head);
  if (req.method == "HEAD" && had_stored && head.status == 200) co_await update_from_head(plan, head, request_time);

  std::unique_ptr<storage::BodyWriter> writer;
  // Followers get the response through the fill's spool whenever it is one
  // a shared cache may hand out, stored or not (too large to keep, storage
  // down): one origin fetch either way.
  bool sharing = false;
  if (plan.rule && req.method == "GET") {
    auto decision = cache::StoreDecision::Store;
    writer = co_await open_store(req, plan, head, request_time, response_time, decision);
    const bool storable = decision == cache::StoreDecision::Store;
    const bool too_large = decision == cache::StoreDecision::TooLarge;
    if (storable || too_large) {
      info.status = storable ? (had_stored ? CacheStatus::Expired : CacheStatus::Miss) : CacheStatus::Bypass;
      info.stored = writer != nullptr;
      info.ttl = cache::freshness_lifetime(head.headers, plan.rule->policy).count();
      if (plan.fill) {
        auto names = cache::vary_names(head.headers);
        auto variant = names.empty() ? std::string() : cache::vary_key(names, req.headers).value_or("");
        // Followers get what a stored copy would hold: no Set-Cookie or private fields.
        http::ResponseHead shared{head.status, head.reason, cache::storable_fields(head.headers, plan.rule->policy)};
        (*plan.fill)->publish_head(std::move(shared), http::content_length(head.headers), std::move(variant));
        sharing = true;
      }
    } else {
      if (plan.fill) {
        // Followers fetch for themselves, and the key skips coalescing for a while (hit-for-miss).
        (*plan.fill)->release(Release::FetchAlone);
        plan.fill->finish(true);
        plan.fill = nullptr;
      }
      info.status = CacheStatus::Bypass;
      // The stored response is outdated and its successor may not be kept.
      if (had_stored && plan.lookup->storage_key && head.status < 500) {
        co_await shared_.storage->remove(*plan.lookup->storage_key);
      }
    }
  }

  // A conditional or range request that was sent unconditionally to fill the
  // cache is answered from the stored result once the fill completes.
  const bool answer_from_store =
      writer && head.status == 200 &&
      (cache::answer_not_modified(req.headers, head.headers, 200) || (had_stored && req.headers.contains("range")));

  auto content_length = http::content_length(head.headers);
  bool client_gone = false;
  if (!answer_from_store) {
    http::ResponseHead client_head = head;
    strip_targeted(client_head.headers);
    add_response_fields(client_head.headers, req, info);
    if (!co_await out.write_head(std::move(client_head), content_length)) co_return outcome;
  }
  auto lock_due = steady::now() + std::chrono::duration_cast<std::chrono::milliseconds>(
                                      cfg_.cache.coalesce.max_fill_age) / 3;
  for (;;) {
    co_await keep_lock(plan, lock_due);  // a long fill keeps other instances waiting, not fetching
    auto chunk = co_await transfer.read();
    if (!chunk) {
      if (plan.fill) (*plan.fill)->fail();
      shared_.metrics.record_upstream_error(chunk.error());
      log::warn("origin failed mid-body for ", req.method, " ", req.target, ": ", chunk.error().message(), " (",
                transfer.error_detail(), ")");
      if (!out.head_sent()) {
        co_await respond_upstream_error(req, chunk.error(), false, info, out);
      }
      out.force_close();
      co_return outcome;
    }
    if (chunk->empty()) break;
    if (writer && !co_await writer->write(*chunk)) {
      // Too large (or the store failed) after all: it is no longer stored,
      // but followers keep streaming it from the spool.
      writer.reset();
      info.stored = false;
      if (answer_from_store) {
        // Too large to keep after all: nothing was sent yet, so say so plainly.
        if (plan.fill) (*plan.fill)->fail();
        co_await out.write_simple(502, "text/plain", "relay: response exceeded cache.max_object_size\n");
        co_return outcome;
      }
    }
    if (sharing) (*plan.fill)->append(*chunk);
    if (!answer_from_store && !client_gone && !co_await out.write_body(*chunk)) {
      // Like Varnish, a fill that is being stored or followed outlives its
      // client (followers and later requests want it); anything else aborts
      // the origin transfer.
      if (!writer && !(sharing && (*plan.fill)->followers() > 0)) co_return outcome;
      client_gone = true;
    }
  }
  if (writer) {
    if (auto committed = co_await writer->commit(); !committed) {
      info.stored = false;
      log::debug("not stored ", req.target, ": ", committed.error().message());
    }
  }
  if (plan.fill) (*plan.fill)->complete();
  if (client_gone) co_return outcome;
  if (answer_from_store) {
    auto stored = co_await lookup(plan.lookup->primary, req);
    if (!stored.hit) {
      co_await out.write_simple(503, "text/plain", "relay: stored response was evicted at once; retry\n");
      co_return outcome;
    }
    auto answered = co_await deliver_or_fail(req, std::move(*stored.hit), info, cache::Seconds(0), out);
    answered.upstream_seconds = outcome.upstream_seconds;
    co_return answered;
  }
  co_await out.finish();
  co_return outcome;
}

asio::awaitable<Handler::Outcome> Handler::finish_revalidation(const http::Request& req, FetchPlan& plan,
                                                               const http::ResponseHead& not_modified,
                                                               sys::time_point request_time,
                                                               server::ResponseWriter& out) {
  auto& hit = *plan.lookup->hit;
  storage::EntryMeta meta = hit.meta;
  const auto& policy = plan.rule->policy;
  meta.headers = cache::freshen(hit.meta.headers, cache::storable_fields(not_modified.headers, policy));
  meta.request_time = request_time;
  meta.response_time = sys::now();
  if (plan.lookup->storage_key) {
    if (auto updated = co_await shared_.storage->update_meta(*plan.lookup->storage_key, meta); !updated) {
      log::warn("storage update after 304 failed: ", updated.error().message());
    }
  }
  if (plan.fill) (*plan.fill)->release(Release::Retry);  // followers find the freshened entry
  auto age = cache::current_age(meta.headers, meta.request_time, meta.response_time, sys::now());
  cache::CacheStatusInfo info;
  info.status = CacheStatus::Revalidated;
  info.fwd = plan.fwd;
  info.fwd_status = 304;
  info.ttl = (cache::freshness_lifetime(meta.headers, plan.rule->policy) - age).count();
  hit.meta = std::move(meta);
  // A cookie set on this 304 is for this client only: delivered, never stored.
  for (const auto& field : not_modified.headers) {
    if (http::iequals(field.name, "set-cookie")) hit.meta.headers.add(field.name, field.value);
  }
  co_return co_await deliver_or_fail(req, std::move(hit), info, age, out);
}

asio::awaitable<Handler::Outcome> Handler::serve_stale_on_error(const http::Request& req, FetchPlan& plan,
                                                                std::optional<int> origin_status,
                                                                server::ResponseWriter& out) {
  const auto& verdict = *plan.classification;
  cache::CacheStatusInfo info;
  info.status = CacheStatus::Stale;
  info.fwd = plan.fwd;
  info.fwd_status = origin_status;
  info.ttl = (verdict.lifetime - verdict.age).count();
  info.detail = "stale-if-error";
  log::info("origin failed for ", req.target, " (", origin_status ? std::to_string(*origin_status) : "unreachable",
            "): serving the stored response (stale-if-error)");
  co_return co_await deliver_or_fail(req, std::move(*plan.lookup->hit), info, verdict.age, out);
}

asio::awaitable<void> Handler::respond_upstream_error(const http::Request& req, const error_code& error,
                                                      bool stale_forbidden, cache::CacheStatusInfo& info,
                                                      server::ResponseWriter& out) {
  if (error == Errc::client_closed) {
    out.force_close();
    co_return;
  }
  shared_.metrics.record_upstream_error(error);
  // RFC 9111 §5.2.2.2: a response that must be revalidated but cannot be gets a 504.
  // Every origin connection busy for upstream.queue_timeout: relay is the
  // one overloaded: 503, as haproxy/haproxy doc/configuration.txt gives for `timeout queue`.
  int status = (stale_forbidden || is_timeout(error)) ? 504 : error == Errc::upstream_queue_timeout ? 503 : 502;
  log::warn("origin request failed for ", req.method, " ", req.target, ": ", error.message(), " -> ", status);
  http::Headers extra;
  add_response_fields(extra, req, info);
  co_await out.write_simple(status, "text/plain", "relay: " + error.message() + "\n", std::move(extra));
  // A request body may be half-read: this connection cannot carry another request.
  if (req.has_body) out.force_close();
}

asio::awaitable<std::unique_ptr<storage::BodyWriter>> Handler::open_store(
    const http::Request& req, FetchPlan& plan, const http::ResponseHead& head, sys::time_point request_time,
    sys::time_point response_time, cache::StoreDecision& decision) {
  const auto& policy = plan.rule->policy;
  decision = cache::may_store("GET", req.headers, head.status, head.headers, policy);
  if (decision != cache::StoreDecision::Store) {
    log::debug("not storing ", req.target, ": ", cache::to_string(decision));
    co_return nullptr;
  }
  auto& found = *plan.lookup;
  auto names = cache::vary_names(head.headers);
  if (names.empty()) {
    found.storage_key = storage::CacheKey(found.primary);
  } else {
    auto secondary = cache::vary_key(names, req.headers);
    if (!secondary) {
      decision = cache::StoreDecision::VaryStar;  // the only Vary without a key
      co_return nullptr;
    }
    if (found.vary_names != names || found.generation.empty()) {
      // A new set of Vary fields: a new index, whose generation orphans older variants.
      storage::EntryMeta marker;
      found.generation = new_vary_generation();
      marker.internal.kind = storage::EntryKind::vary_index;
      marker.internal.vary = {names, found.generation};
      marker.request_time = request_time;
      marker.response_time = response_time;
      auto marker_writer = co_await shared_.storage->put(found.primary, std::move(marker));
      if (!marker_writer || !co_await (*marker_writer)->commit()) {
        co_return nullptr;
      }
      found.vary_names = names;
    }
    found.storage_key = storage::CacheKey::for_variant(found.primary, found.generation, *secondary);
  }
  storage::EntryMeta meta{head.status, head.reason, cache::storable_fields(head.headers, policy), request_time,
                          response_time, 0, keep_for(head, policy, cfg_.storage.keep_time), {}};
  auto put = co_await shared_.storage->put(*found.storage_key, std::move(meta));
  if (!put) {
    log::warn("storage put failed, passing through: ", put.error().message());
    co_return nullptr;
  }
  co_return std::move(*put);
}

// RFC 9111 §4.3.5: a HEAD response describing the same representation
// (same strong validator, or same Content-Length without validators)
// freshens the stored headers; a different one means the stored response is
// outdated.
asio::awaitable<void> Handler::update_from_head(FetchPlan& plan, const http::ResponseHead& head,
                                                sys::time_point request_time) {
  auto& stored = plan.lookup->hit->meta;
  auto same = [&](std::string_view name) {
    auto a = stored.headers.get(name);
    auto b = head.headers.get(name);
    return a && b && *a == *b;
  };
  bool has_validators = stored.headers.contains("etag") || stored.headers.contains("last-modified");
  bool matches = has_validators ? (same("etag") || (!stored.headers.contains("etag") && same("last-modified")))
                                : same("content-length");
  if (!plan.lookup->storage_key) co_return;
  const auto& key = *plan.lookup->storage_key;
  if (!matches) {
    co_await shared_.storage->remove(key);
    co_return;
  }
  storage::EntryMeta meta = stored;
  meta.headers = cache::freshen(stored.headers, cache::storable_fields(head.headers, plan.rule->policy));
  meta.request_time = request_time;
  meta.response_time = sys::now();
  // A failure is counted by the instrumented store; the stored copy simply stays as it was.
  co_await shared_.storage->update_meta(key, std::move(meta));
}

asio::awaitable<void> Handler::invalidate_after(const http::Request& req, const http::ResponseHead& head) {
  for (const auto& target : cache::invalidation_targets(req, head.headers)) {
    auto normalized = cache::normalize_target(target, req.headers);
    if (!normalized.ok) continue;
    auto rule = cache::resolve_rule(cfg_.cache, normalized.target.path);
    auto key = cache::make_key(normalized.target, req.headers, rule.key);
    if (auto removed = co_await shared_.storage->remove(key.primary); removed && *removed) {
      log::debug("invalidated ", target, " after ", req.method, " ", req.target);
    }
  }
}

upstream::UpstreamRequest Handler::upstream_request(const http::Request& req, upstream::RequestBodySource* body,
                                                    const FetchPlan& plan) const {
  upstream::UpstreamRequest up;
  up.method = req.method;
  up.url = upstream_base_ + "/";
  up.target = req.target;  // normalised by route(): what was keyed is what is forwarded
  if (up.target.starts_with('/')) up.target.insert(0, upstream_prefix_);
  up.headers = req.headers;
  http::strip_hop_by_hop(up.headers);
  up.headers.remove("expect");  // 100-continue is answered by relay itself
  if (req.has_body) {
    up.headers.remove("content-length");  // curl frames the body it streams
    up.body = body;
    up.body_length = req.content_length;
  }
  if (plan.lookup) {
    if (plan.lookup->hit) {
      // Validate what is stored (§4.3.1); the client's own conditionals and
      // range are answered from the result.
      for (auto name : {"if-none-match", "if-modified-since", "range", "if-range"}) up.headers.remove(name);
      for (const auto& field : cache::validators_for(plan.lookup->hit->meta.headers)) {
        up.headers.add(field.name, field.value);
      }
    } else if (!req.headers.contains("range")) {
      // Fill the cache with a full response; the client's conditionals are answered from it.
      up.headers.remove("if-none-match");
      up.headers.remove("if-modified-since");
    }
  }
  if (!cfg_.upstream.preserve_host || !up.headers.contains("host")) up.headers.set("Host", upstream_host_);
  auto via = up.headers.get_combined("via");
  up.headers.set("Via", (via ? *via + ", " : std::string()) + "1.1 relay");
  auto forwarded_for = up.headers.get_combined("x-forwarded-for");
  up.headers.set("X-Forwarded-For", (forwarded_for ? *forwarded_for + ", " : std::string()) + req.client_address);
  up.headers.set("X-Forwarded-Proto", "http");
  up.headers.set("X-Request-ID", req.request_id);
  return up;
}

}  // namespace relay::proxy
