// Going to the origin. For a cacheable request cache::on_origin_response
// (the origin verdict) decides what the cache does (RFC 9111 §4.3, RFC 5861);
// this file only acts on it:
//   Revalidated   -> freshen the stored response, serve it (REVALIDATED)
//   StaleOnError  -> serve the stored one (STALE)
//   OriginFailed  -> 502/503/504
//   Store         -> stream to the client and into storage (MISS / EXPIRED)
//   ShareOnly     -> stream to the client and to followers (BYPASS, too large)
//   PassThrough   -> stream to the client only (BYPASS)
// Unsafe methods that succeed invalidate what they touched (§4.4).
#include <cassert>

#include "relay/cache/invalidation.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/origin_verdict.hpp"
#include "relay/cache/target.hpp"
#include "relay/cache/validation.hpp"
#include "relay/cache/vary.hpp"
#include "relay/gateway/forwarded.hpp"
#include "relay/gateway/route_table.hpp"
#include "relay/http/problem.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/pump.hpp"
#include "relay/proxy/vary_marker.hpp"
#include "relay/purge/purger.hpp"
#include "relay/purge/selector.hpp"
#include "relay/purge/tags.hpp"
#include "relay/storage/size_limited_store.hpp"
#include "relay/util/error_table.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;
using steady = std::chrono::steady_clock;
using sys = std::chrono::system_clock;

void prepare_head(http::ResponseHead& head, sys::time_point response_time) {
  http::strip_hop_by_hop(head.headers);
  cache::stamp_date(head.headers, response_time);
}

asio::awaitable<Handler::Outcome> Handler::fetch(const http::Request& req, http::BodySource& body,
                                                 http::ResponseSink* out, FetchPlan plan) {
  Outcome outcome;
  auto& info = outcome.info;
  info.fwd = plan.fwd;
  info.status = plan.rule ? CacheStatus::Miss : CacheStatus::Bypass;
  const cache::Policy* policy = plan.rule ? &plan.rule->policy : nullptr;
  // The stored response's facts, parsed once for the verdict.
  std::optional<cache::ResponseFacts> stored_facts;
  std::optional<cache::StoredView> stored;
  if (policy && plan.lookup && plan.lookup->hit) {
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
  // Consistent hashing places the request by its cache key, else by its URL.
  std::string hash_key;
  if (plan.lookup)
    hash_key = plan.lookup->primary();
  else
    hash_key.append(req.headers.get("host").value_or("")).append(req.target);
  auto started = co_await upstreams_.start(req.route, hash_key, upstream_request(req, &body, plan), out,
                                           http::is_idempotent(req.method) && !req.has_body);
  outcome.upstream_seconds = std::chrono::duration<double>(steady::now() - started_at).count();
  auto with_upstream_time = [&](Outcome answered) {
    answered.upstream_seconds = outcome.upstream_seconds;
    return answered;
  };
  if (!started) {
    auto verdict = cache::on_origin_response(context, cache::origin_failure(started.error()));
    // StaleOnError needs a classified stored response, so a client to serve it to.
    if (std::holds_alternative<cache::StaleOnError>(verdict)) {
      assert(out);
      shared_.metrics.record_upstream_error(started.error());
      if (plan.fill) (*plan.fill)->release(Release::Retry);
      co_return with_upstream_time(co_await serve_stale_on_error(req, plan, std::nullopt, *out));
    }
    co_await respond_upstream_error(req, started.error(), std::get<cache::OriginFailed>(verdict).status, info, out);
    co_return outcome;
  }
  auto& transfer = **started;
  OriginAnswer answer{transfer.head(), {}, request_time, sys::now()};
  prepare_head(answer.head, answer.response_time);
  info.fwd_status = answer.head.status;
  answer.facts = cache::response_facts(answer.head.status, answer.head.headers,
                                       policy ? policy->targeted_fields : cfg_.cache.targeted_fields,
                                       answer.response_time);
  answer.vary = cache::vary_names(answer.head.headers);
  auto verdict = cache::on_origin_response(context, cache::OriginResponse{answer.facts, answer.head.headers});

  if (auto* revalidated = std::get_if<cache::Revalidated>(&verdict)) {
    co_return with_upstream_time(
        co_await finish_revalidation(req, plan, answer, std::move(revalidated->fields), out));
  }
  if (std::holds_alternative<cache::StaleOnError>(verdict)) {
    assert(out);
    if (plan.fill) (*plan.fill)->release(Release::Retry);
    co_return with_upstream_time(co_await serve_stale_on_error(req, plan, answer.head.status, *out));
  }
  // An origin that sends its head and then fails or goes silent is an error
  // a stale copy may still answer (RFC 5861 §4): with one at hand, the
  // first body bytes are awaited before anything is decided or sent.
  std::optional<std::span<const char>> first_bytes;
  if (out && stored && stored->usable_on_error) {
    auto first = co_await transfer.read();
    if (!first) {
      shared_.metrics.record_upstream_error(first.error());
      log::warn("origin failed after its head for ", req.method, " ", req.target, ": ", first.error().message(),
                " (", transfer.error_detail(), ")");
      auto failed = cache::on_origin_response(context, cache::origin_failure(first.error()));
      if (std::holds_alternative<cache::StaleOnError>(failed)) {
        if (plan.fill) (*plan.fill)->release(Release::Retry);
        co_return with_upstream_time(co_await serve_stale_on_error(req, plan, std::nullopt, *out));
      }
      co_await respond_upstream_error(req, first.error(), std::get<cache::OriginFailed>(failed).status, info, out);
      co_return outcome;
    }
    first_bytes = *first;
  }
  if (cache::invalidates(req.method, answer.head.status)) co_await invalidate_after(req, answer.head);
  auto writer = co_await act_on_verdict(req, plan, answer, verdict, info);
  co_return with_upstream_time(
      co_await forward_response(req, transfer, first_bytes, answer, std::move(writer), plan, info, out));
}

asio::awaitable<std::unique_ptr<storage::BodyWriter>> Handler::act_on_verdict(const http::Request& req,
                                                                               FetchPlan& plan,
                                                                               const OriginAnswer& answer,
                                                                               cache::OriginVerdict& verdict,
                                                                               cache::CacheStatusInfo& info) {
  const bool had_stored = plan.lookup && plan.lookup->hit;
  std::unique_ptr<storage::BodyWriter> writer;
  bool shareable = false;
  if (auto* store = std::get_if<cache::Store>(&verdict)) {
    writer = co_await open_store(req, plan, answer, store->keep_for);
    info.status = had_stored ? CacheStatus::Expired : CacheStatus::Miss;
    info.stored = writer != nullptr;
    info.ttl = store->ttl.count();
    shareable = true;
  } else if (auto* share = std::get_if<cache::ShareOnly>(&verdict)) {
    // A miss like any other, that X-Cache and Cache-Status both tell: not
    // stored (no "stored"), and why.
    info.status = had_stored ? CacheStatus::Expired : CacheStatus::Miss;
    info.detail = "too-large";
    info.ttl = share->ttl.count();
    if (share->drop_stored) co_await apply_stored_update(plan, cache::StoredUpdate::Remove, {}, answer.request_time);
    shareable = true;
  } else if (auto* pass = std::get_if<cache::PassThrough>(&verdict)) {
    if (pass->refused) {
      log::debug("not storing ", req.target, ": ", cache::to_string(*pass->refused));
      info.status = CacheStatus::Bypass;
    }
    if (plan.fill) {
      // Followers fetch for themselves, and the key skips coalescing for a while (hit-for-miss).
      (*plan.fill)->release(Release::FetchAlone);
      plan.fill->finish(WritePermit::Outcome::Uncacheable);
      plan.fill = nullptr;
    }
    co_await apply_stored_update(plan, pass->stored, std::move(pass->fields), answer.request_time);
  }
  // Followers get the response through the fill whenever it is one a shared
  // cache may hand out, stored or not (too large to keep, storage down): one
  // origin fetch either way. They get what a stored copy would hold: no
  // Set-Cookie or private fields.
  if (plan.fill && shareable) {
    const auto& head = answer.head;
    http::ResponseHead shared{head.status, head.reason,
                              cache::storable_fields(head.headers, answer.facts.cc, plan.rule->policy)};
    (*plan.fill)->publish_head(std::move(shared), answer.facts.content_length,
                               cache::variant_for(answer.vary, req.headers));
  }
  co_return writer;
}

asio::awaitable<Handler::Outcome> Handler::forward_response(const http::Request& req, upstream::Transfer& transfer,
                                                            std::optional<std::span<const char>> first_bytes,
                                                            const OriginAnswer& answer,
                                                            std::unique_ptr<storage::BodyWriter> writer,
                                                            FetchPlan& plan, cache::CacheStatusInfo& info,
                                                            http::ResponseSink* out) {
  Outcome outcome{info};
  const auto& head = answer.head;
  // A conditional or range request that was sent unconditionally to fill the
  // cache is answered from the stored result once the fill completes.
  const bool had_stored = plan.lookup && plan.lookup->hit;
  const bool answer_from_store =
      out && writer && head.status == 200 &&
      (cache::answer_not_modified(req.headers, head.headers, 200) || (had_stored && req.headers.contains("range")));
  http::ResponseSink* client = answer_from_store ? nullptr : out;
  if (client) {
    http::ResponseHead client_head = head;
    strip_for_client(client_head.headers);
    add_response_fields(client_head.headers, req, info);
    // A client gone already: the body still goes to the store and the followers.
    if (!co_await client->write_head(std::move(client_head), answer.facts.content_length)) client = nullptr;
  }
  PumpTargets targets{.client = client,
                      .store = writer.get(),
                      .fill = plan.fill ? &plan.fill->fill() : nullptr,
                      .defer_commit = true};
  std::optional<PrimedSource> primed;
  if (first_bytes) primed.emplace(*first_bytes, transfer);
  http::BodySource& source = primed ? static_cast<http::BodySource&>(*primed) : transfer;
  auto pumped = co_await pump(source, targets);
  if (pumped.commit_deferred) {
    // The client has it all; its connection goes on while the store commits.
    // The fill stays open until then, so requests meanwhile follow it.
    WritePermit fill;
    if (plan.fill) fill = std::move(*plan.fill);
    spawn_background("commit of " + req.target, commit_fill(req.target, std::move(writer), std::move(fill)));
    co_return outcome;  // info.stored as announced in Cache-Status
  }
  info.stored = pumped.stored;
  outcome.info = info;
  if (pumped.source_error) {
    if (plan.fill) (*plan.fill)->fail();
    shared_.metrics.record_upstream_error(pumped.source_error);
    log::warn("origin failed mid-body for ", req.method, " ", req.target, ": ", pumped.source_error.message(), " (",
              transfer.error_detail(), ")");
    if (out && !out->head_sent()) {
      auto status = cache::origin_error_status(cache::origin_failure(pumped.source_error), false);
      co_await respond_upstream_error(req, pumped.source_error, status, info, out);
    }
    if (out) out->abort();
    co_return outcome;
  }
  if (writer && !pumped.stored && pumped.store_error) {
    log::debug("not stored ", req.target, ": ", pumped.store_error.message());
  }
  if (!answer_from_store) co_return outcome;
  if (!pumped.stored) {
    // Too large to keep after all (or the store failed): nothing was sent
    // yet, so say so plainly.
    co_await http::respond_problem(*out, req, 502, "object-too-large",
                                   "the origin's response exceeded cache.max_object_size");
    co_return outcome;
  }
  auto stored = co_await lookup(plan.lookup->primary(), req);
  if (!stored.hit) {
    co_await http::respond_problem(*out, req, 503, "storage-evicted",
                                   "the stored response was evicted at once; retry");
    co_return outcome;
  }
  co_return co_await deliver_or_fail(req, std::move(*stored.hit), info, cache::Seconds(0), *out);
}

asio::awaitable<void> Handler::commit_fill(std::string target, std::unique_ptr<storage::BodyWriter> writer,
                                           WritePermit fill) {
  if (auto committed = co_await writer->commit(); !committed) {
    log::debug("not stored ", target, ": ", committed.error().message());
  }
  if (fill) {
    fill->complete();  // stored or not: the followers have the whole body
    co_await fill.release_lock();
  }
}

asio::awaitable<Handler::Outcome> Handler::finish_revalidation(const http::Request& req, FetchPlan& plan,
                                                               const OriginAnswer& not_modified,
                                                               http::Headers freshened, http::ResponseSink* out) {
  auto& hit = *plan.lookup->hit;
  storage::EntryMeta meta = hit.meta;
  meta.headers = std::move(freshened);
  meta.request_time = not_modified.request_time;
  meta.response_time = not_modified.response_time;
  meta.internal.stale_at.reset();  // revalidated: a soft purge is answered
  if (plan.lookup->storage_key()) {
    if (auto updated = co_await shared_.storage->update_meta(*plan.lookup->storage_key(), meta); !updated) {
      log::warn_for(updated.error(), "storage update after 304 failed: ", updated.error().message());
    }
  }
  if (plan.fill) (*plan.fill)->release(Release::Retry);  // followers find the freshened entry
  cache::CacheStatusInfo info;
  info.status = CacheStatus::Revalidated;
  info.fwd = plan.fwd;
  info.fwd_status = 304;
  if (!out) co_return Outcome{info};  // a background revalidation: nobody to answer
  const auto now = sys::now();
  const auto fresh = cache::response_facts(meta.status, meta.headers, plan.rule->policy.targeted_fields, now);
  auto age = cache::current_age(fresh, meta.request_time, meta.response_time, now);
  info.ttl = (cache::freshness_lifetime(fresh, plan.rule->policy) - age).count();
  hit.meta = std::move(meta);
  // A cookie set on this 304 is for this client only: delivered, never stored.
  for (const auto& field : not_modified.head.headers) {
    if (http::iequals(field.name, "set-cookie")) hit.meta.headers.add(field.name, field.value);
  }
  co_return co_await deliver_or_fail(req, std::move(hit), info, age, *out);
}

asio::awaitable<Handler::Outcome> Handler::serve_stale_on_error(const http::Request& req, FetchPlan& plan,
                                                                std::optional<int> origin_status,
                                                                http::ResponseSink& out) {
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

asio::awaitable<void> Handler::respond_upstream_error(const http::Request& req, const error_code& error, int status,
                                                      cache::CacheStatusInfo& info, http::ResponseSink* out) {
  if (error == Errc::client_closed) {
    if (out) out->abort();
    co_return;
  }
  shared_.metrics.record_upstream_error(error);
  if (!out) {
    log::warn("background revalidation of ", req.target, " failed: ", error.message());
    co_return;
  }
  log::warn("origin request failed for ", req.method, " ", req.target, ": ", error.message(), " -> ", status);
  http::Headers extra;
  add_response_fields(extra, req, info);
  co_await http::respond_problem(*out, req, status, problem_slug(error), error.message(), std::move(extra));
  // A request body may be half-read: this connection cannot carry another request.
  if (req.has_body) out->abort();
}

asio::awaitable<std::unique_ptr<storage::BodyWriter>> Handler::open_store(const http::Request& req, FetchPlan& plan,
                                                                           const OriginAnswer& answer,
                                                                           cache::Seconds keep_for) {
  auto& found = *plan.lookup;
  const auto& names = answer.vary;
  if (names.empty()) {
    found.key_url();
  } else {
    auto secondary = cache::vary_key(names, req.headers);
    if (!secondary) co_return nullptr;  // Vary: *, which may_store already refused
    if (found.vary_names != names || found.generation.empty()) {
      // A new set of Vary fields: a new index, whose generation orphans older variants.
      storage::EntryMeta marker;
      found.generation = new_vary_generation();
      marker.internal.kind = storage::EntryKind::vary_index;
      marker.internal.vary = {names, found.generation};
      marker.request_time = answer.request_time;
      marker.response_time = answer.response_time;
      auto marker_writer = co_await shared_.storage->put(found.primary(), std::move(marker));
      if (!marker_writer || !co_await (*marker_writer)->commit()) {
        co_return nullptr;
      }
      found.vary_names = names;
    }
    found.key_variant(found.generation, *secondary);
  }
  const auto& head = answer.head;
  storage::EntryMeta meta{head.status,
                          head.reason,
                          cache::storable_fields(head.headers, answer.facts.cc, plan.rule->policy),
                          answer.request_time,
                          answer.response_time,
                          0,
                          keep_for,
                          {}};
  meta.internal.tags = purge::response_tags(head.headers, cfg_.purge.tag_headers);
  auto tags = meta.internal.tags;
  auto put = co_await shared_.storage->put(found.key, std::move(meta));
  if (!put) {
    log::warn_for(put.error(), "storage put failed, passing through: ", put.error().message());
    co_return nullptr;
  }
  // Counted as the origin sent it: outside zstd at rest and the tier.
  auto writer = storage::limit_body_size(std::move(*put), plan.rule->policy.max_object_size);
  if (!shared_.purger) co_return writer;
  // A purge while the body streams in: this copy predates it and is not kept.
  co_return purge::guard_fill(std::move(writer), shared_.purger->recent(), found.primary(), std::move(tags),
                              answer.request_time);
}

// What the verdict says about the stored response once the origin answered
// without replacing it (RFC 9111 §4.3.5, §4.4): outdated, or freshened.
asio::awaitable<void> Handler::apply_stored_update(FetchPlan& plan, cache::StoredUpdate update,
                                                   http::Headers freshened, sys::time_point request_time) {
  if (update == cache::StoredUpdate::Keep || !plan.lookup || !plan.lookup->hit) co_return;
  if (!plan.lookup->storage_key()) co_return;
  const auto& key = *plan.lookup->storage_key();
  if (update == cache::StoredUpdate::Remove) {
    co_await shared_.storage->remove(key);
    co_return;
  }
  storage::EntryMeta meta = plan.lookup->hit->meta;
  meta.headers = std::move(freshened);
  meta.request_time = request_time;
  meta.response_time = sys::now();
  meta.internal.stale_at.reset();
  // A failure is counted by the instrumented store; the stored copy simply stays as it was.
  co_await shared_.storage->update_meta(key, std::move(meta));
}

asio::awaitable<void> Handler::invalidate_after(const http::Request& req, const http::ResponseHead& head) {
  for (const auto& target : cache::invalidation_targets(req, head.headers)) {
    auto normalized = cache::normalize_target(target, req.headers, req.scheme);
    if (!normalized.ok) continue;
    const auto route = gateway::match_route(cfg_.routes, normalized.target.authority, normalized.target.path);
    // With a memory tier in front of a shared Redis, the other instances'
    // memory levels hold the entry too: the purge bus reaches them.
    if (shared_.purger && cfg_.storage.tier == config::Tier::MemoryRedis) {
      auto selector = purge::url_selector(normalized.target, cfg_);  // named: see purger.cpp
      co_await shared_.purger->invalidate(std::move(selector));
      continue;
    }
    const auto& rule = rules_.resolve(normalized.target.path, route ? std::span(cfg_.routes[*route].cache_rules)
                                                                    : std::span<const config::CacheRule>());
    auto key = cache::make_key(normalized.target, req.headers, rule.key);
    if (auto removed = co_await shared_.storage->remove(key.primary); removed && *removed) {
      log::debug("invalidated ", target, " after ", req.method, " ", req.target);
    }
  }
}

// RFC 9110 §7.6.3: the protocol the request came in with ("2" for HTTP/2).
static std::string via_entry(const http::Request& req) {
  if (req.version_major == 2) return "2 relay";
  return req.version_minor == 0 ? "1.0 relay" : "1.1 relay";
}

upstream::UpstreamRequest Handler::upstream_request(const http::Request& req, http::BodySource* body,
                                                    const FetchPlan& plan) const {
  upstream::UpstreamRequest up;
  up.method = req.method;
  up.target = req.target;  // normalised by route(): what was keyed is what is forwarded; Upstreams adds the member's prefix
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
  auto via = up.headers.get_combined("via");
  up.headers.set("Via", (via ? *via + ", " : std::string()) + via_entry(req));
  gateway::set_forwarding_fields(up.headers, req.peer_address.empty() ? req.client_address : req.peer_address,
                                 req.headers.get("host").value_or(""), trusted_proxies_, cfg_.server.forwarded,
                                 req.scheme);
  up.headers.set("X-Request-ID", req.request_id);
  return up;
}

}  // namespace relay::proxy
