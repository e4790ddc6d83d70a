// Going to the origin. For a cacheable request cache::on_origin_response
// (the origin verdict) decides what the cache does (RFC 9111 §4.3, RFC 5861);
// this file only acts on it:
//   304 to our validators      -> freshen the stored response, serve it (REVALIDATED)
//   5xx or unreachable, stale-if-error allowed -> serve the stored one (STALE)
//   storable response          -> stream to the client and into storage (MISS / EXPIRED)
//   anything else              -> stream to the client only (BYPASS)
// Unsafe methods that succeed invalidate what they touched (§4.4).
#include "relay/cache/invalidation.hpp"
#include "relay/cache/origin_verdict.hpp"
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
  const cache::Policy* policy = plan.rule ? &plan.rule->policy : nullptr;
  // The stored response's facts, parsed once for the verdict below.
  std::optional<cache::ResponseFacts> stored_facts;
  std::optional<cache::StoredView> stored;
  if (had_stored && policy) {
    const auto& meta = plan.lookup->hit->meta;
    stored_facts = cache::response_facts(meta.status, meta.headers, policy->targeted_fields, sys::now());
    stored.emplace(cache::StoredView{*stored_facts, meta.headers,
                                     plan.classification && plan.classification->stale_if_error});
  }
  const cache::OriginContext context{policy, plan.request, stored ? &*stored : nullptr,
                                     std::chrono::duration_cast<cache::Seconds>(cfg_.storage.keep_time)};

  auto started_at = steady::now();
  auto request_time = sys::now();
  // Interim (1xx) responses reach this client only: never followers, never storage.
  auto started =
      co_await upstream::Transfer::start(multi_, cfg_.upstream, upstream_request(req, &body, plan), &out);
  outcome.upstream_seconds = std::chrono::duration<double>(steady::now() - started_at).count();
  if (!started) {
    auto verdict = cache::on_origin_response(context, cache::origin_failure(started.error()));
    if (std::holds_alternative<cache::StaleOnError>(verdict)) {
      shared_.metrics.record_upstream_error(started.error());
      if (plan.fill) (*plan.fill)->release(Release::Retry);
      auto stale = co_await serve_stale_on_error(req, plan, std::nullopt, out);
      stale.upstream_seconds = outcome.upstream_seconds;
      co_return stale;
    }
    co_await respond_upstream_error(req, started.error(), std::get<cache::OriginFailed>(verdict).status, info, out);
    co_return outcome;
  }
  auto& transfer = **started;
  shared_.metrics.record_upstream_response(transfer.head().status);
  http::ResponseHead head = transfer.head();
  auto response_time = sys::now();
  prepare_head(head, response_time);
  info.fwd_status = head.status;
  const auto facts = cache::response_facts(head.status, head.headers,
                                           policy ? policy->targeted_fields : cfg_.cache.targeted_fields, response_time);
  auto verdict = cache::on_origin_response(context, cache::OriginResponse{facts, head.headers});

  if (auto* revalidated = std::get_if<cache::Revalidated>(&verdict)) {
    auto validated = co_await finish_revalidation(req, plan, head, std::move(revalidated->fields), request_time, out);
    validated.upstream_seconds = outcome.upstream_seconds;
    co_return validated;
  }
  if (std::holds_alternative<cache::StaleOnError>(verdict)) {
    if (plan.fill) (*plan.fill)->release(Release::Retry);
    auto stale = co_await serve_stale_on_error(req, plan, head.status, out);
    stale.upstream_seconds = outcome.upstream_seconds;
    co_return stale;
  }
  if (cache::invalidates(req.method, head.status)) co_await invalidate_after(req, head);

  std::unique_ptr<storage::BodyWriter> writer;
  // Followers get the response through the fill's spool whenever it is one
  // a shared cache may hand out, stored or not (too large to keep, storage
  // down): one origin fetch either way.
  bool sharing = false;
  if (auto* store = std::get_if<cache::Store>(&verdict)) {
    writer = co_await open_store(req, plan, head, facts, request_time, response_time, store->keep_for);
    info.status = had_stored ? CacheStatus::Expired : CacheStatus::Miss;
    info.stored = writer != nullptr;
    info.ttl = store->ttl.count();
  } else if (auto* share = std::get_if<cache::ShareOnly>(&verdict)) {
    info.status = CacheStatus::Bypass;
    info.ttl = share->ttl.count();
    if (share->drop_stored) co_await apply_stored_update(plan, cache::StoredUpdate::Remove, {}, request_time);
  } else if (auto* pass = std::get_if<cache::PassThrough>(&verdict)) {
    if (pass->refused) {
      log::debug("not storing ", req.target, ": ", cache::to_string(*pass->refused));
      if (plan.fill) {
        // Followers fetch for themselves, and the key skips coalescing for a while (hit-for-miss).
        (*plan.fill)->release(Release::FetchAlone);
        plan.fill->finish(true);
        plan.fill = nullptr;
      }
      info.status = CacheStatus::Bypass;
    }
    co_await apply_stored_update(plan, pass->stored, std::move(pass->fields), request_time);
  }
  if (plan.fill && (std::holds_alternative<cache::Store>(verdict) || std::holds_alternative<cache::ShareOnly>(verdict))) {
    // Followers get what a stored copy would hold: no Set-Cookie or private fields.
    http::ResponseHead shared{head.status, head.reason, cache::storable_fields(head.headers, facts.cc, *policy)};
    (*plan.fill)->publish_head(std::move(shared), facts.content_length, cache::variant_for(facts.vary, req.headers));
    sharing = true;
  }

  // A conditional or range request that was sent unconditionally to fill the
  // cache is answered from the stored result once the fill completes.
  const bool answer_from_store =
      writer && head.status == 200 &&
      (cache::answer_not_modified(req.headers, head.headers, 200) || (had_stored && req.headers.contains("range")));

  const auto content_length = facts.content_length;
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
        co_await respond_upstream_error(req, chunk.error(), cache::origin_error_status(cache::origin_failure(chunk.error()), false), info,
                                        out);
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
                                                               http::Headers freshened, sys::time_point request_time,
                                                               server::ResponseWriter& out) {
  auto& hit = *plan.lookup->hit;
  storage::EntryMeta meta = hit.meta;
  meta.headers = std::move(freshened);
  meta.request_time = request_time;
  meta.response_time = sys::now();
  if (!plan.lookup->storage_key.empty()) {
    if (auto updated = co_await shared_.storage->update_meta(plan.lookup->storage_key, meta); !updated) {
      log::warn("storage update after 304 failed: ", updated.error().message());
    }
  }
  if (plan.fill) (*plan.fill)->release(Release::Retry);  // followers find the freshened entry
  const auto now = sys::now();
  const auto fresh = cache::response_facts(meta.status, meta.headers, plan.rule->policy.targeted_fields, now);
  auto age = cache::current_age(fresh, meta.request_time, meta.response_time, now);
  cache::CacheStatusInfo info;
  info.status = CacheStatus::Revalidated;
  info.fwd = plan.fwd;
  info.fwd_status = 304;
  info.ttl = (cache::freshness_lifetime(fresh, plan.rule->policy) - age).count();
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
                                                      int status, cache::CacheStatusInfo& info,
                                                      server::ResponseWriter& out) {
  if (error == Errc::client_closed) {
    out.force_close();
    co_return;
  }
  shared_.metrics.record_upstream_error(error);
  log::warn("origin request failed for ", req.method, " ", req.target, ": ", error.message(), " -> ", status);
  http::Headers extra;
  add_response_fields(extra, req, info);
  co_await out.write_simple(status, "text/plain", "relay: " + error.message() + "\n", std::move(extra));
  // A request body may be half-read: this connection cannot carry another request.
  if (req.has_body) out.force_close();
}

asio::awaitable<std::unique_ptr<storage::BodyWriter>> Handler::open_store(
    const http::Request& req, FetchPlan& plan, const http::ResponseHead& head, const cache::ResponseFacts& facts,
    sys::time_point request_time, sys::time_point response_time, cache::Seconds keep_for) {
  auto& found = *plan.lookup;
  const auto& names = facts.vary;
  if (names.empty()) {
    found.storage_key = found.primary;
  } else {
    auto secondary = cache::vary_key(names, req.headers);
    if (!secondary) co_return nullptr;  // Vary: *, which may_store already refused
    if (found.vary_names != names || found.generation.empty()) {
      // A new set of Vary fields: a new marker, whose generation orphans older variants.
      storage::EntryMeta marker;
      marker.status = vary_marker_status;
      marker.headers.add("Vary", names);
      found.generation = new_vary_generation();
      marker.headers.add(std::string(vary_generation_field()), found.generation);
      marker.request_time = request_time;
      marker.response_time = response_time;
      auto marker_writer = co_await shared_.storage->put(found.primary, std::move(marker));
      if (!marker_writer || !co_await (*marker_writer)->commit()) {
        co_return nullptr;
      }
      found.vary_names = names;
    }
    found.storage_key = variant_key(found.primary, found.generation, *secondary);
  }
  storage::EntryMeta meta{head.status,  head.reason, cache::storable_fields(head.headers, facts.cc, plan.rule->policy),
                          request_time, response_time, 0, keep_for};
  auto put = co_await shared_.storage->put(found.storage_key, std::move(meta));
  if (!put) {
    log::warn("storage put failed, passing through: ", put.error().message());
    co_return nullptr;
  }
  co_return std::move(*put);
}

// What the verdict says about the stored response once the origin answered
// without replacing it (RFC 9111 §4.3.5, §4.4): outdated, or freshened.
asio::awaitable<void> Handler::apply_stored_update(FetchPlan& plan, cache::StoredUpdate update,
                                                   http::Headers freshened, sys::time_point request_time) {
  if (update == cache::StoredUpdate::Keep || !plan.lookup) co_return;
  const auto& key = plan.lookup->storage_key;
  if (key.empty()) co_return;
  if (update == cache::StoredUpdate::Remove) {
    co_await shared_.storage->remove(key);
    co_return;
  }
  storage::EntryMeta meta = plan.lookup->hit->meta;
  meta.headers = std::move(freshened);
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
