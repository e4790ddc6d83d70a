// Another instance's fill, streamed while that instance writes it to the
// shared store (Storage::get_in_progress): the cross-instance counterpart of
// follow.cpp. This request holds its own instance's permit for the key, so
// it feeds the local fill as it goes and local followers ride along: one
// origin request for the fleet, one shared-store reader per instance.
//
// Should the other instance die midway (its announcement expires, the
// store reader fails), the rest of the body comes from the origin with
// "Range: bytes=<received>-" and If-Range on the response's strong
// validator (ResumingSource), so the client still receives the whole,
// identical body, and this instance then stores the object in place of the
// dead one. That is why only responses with a strong validator are
// streamed this way (peer_probe); the others are awaited until committed.
#include "relay/cache/freshness.hpp"
#include "relay/cache/range.hpp"
#include "relay/cache/validation.hpp"
#include "relay/cache/vary.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/pump.hpp"
#include "relay/proxy/resuming_source.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;

PeerProbe Handler::peer_probe(const http::Request& req, const cache::RequestFacts& request, const Lookup& found,
                              const cache::ResolvedRule& rule) {
  return [this, &req, &request, &found, &rule]() -> asio::awaitable<PeerView> {
    auto seen = co_await lookup(found.primary(), req);
    if (seen.hit) {
      const auto& meta = seen.hit->meta;
      const auto now = std::chrono::system_clock::now();
      const auto stored = cache::response_facts(meta.status, meta.headers, rule.policy.targeted_fields, now);
      auto verdict = cache::classify(request, {stored, meta.request_time, meta.response_time, meta.internal.stale_at}, rule.policy, now);
      if (verdict.verdict != cache::Verdict::MustValidate) co_return PeerView{PeerView::Stored, std::nullopt};
    }
    if (!seen.storage_key()) co_return PeerView{};
    auto partial = co_await shared_.storage->get_in_progress(*seen.storage_key());
    // Streamed only when it can be resumed from the origin should the
    // holder die midway (a strong validator names these exact bytes).
    if (partial && *partial && cache::strong_validator((*partial)->meta.headers)) {
      co_return PeerView{PeerView::Streaming, std::move(**partial)};
    }
    co_return PeerView{};
  };
}

asio::awaitable<Handler::Outcome> Handler::stream_peer_fill(const http::Request& req, storage::Hit partial,
                                                            FetchPlan& plan, http::ResponseSink& out) {
  const auto& meta = partial.meta;
  Outcome outcome;
  auto& info = outcome.info;
  info.status = CacheStatus::Coalesced;
  info.fwd = plan.fwd;
  info.fwd_status = meta.status;
  info.collapsed = true;
  info.detail = "peer";

  const auto content_length = http::content_length(meta.headers);
  if (plan.fill) {
    auto names = cache::vary_names(meta.headers);
    auto variant = names.empty() ? std::string() : cache::vary_key(names, req.headers).value_or("");
    http::ResponseHead stored{meta.status, meta.reason, meta.headers};
    (*plan.fill)->publish_head(std::move(stored), content_length, std::move(variant));
  }

  http::ResponseHead head{meta.status, meta.reason, meta.headers};
  strip_for_client(head.headers);
  auto age = cache::current_age(meta.headers, meta.request_time, meta.response_time, std::chrono::system_clock::now());
  head.headers.set("Age", std::to_string(age.count()));
  // The client is answered in full by a 304, or gets the body below; the
  // stream goes on while local followers need it.
  http::ResponseSink* client = &out;
  if (cache::answer_not_modified(req.headers, meta.headers, meta.status)) {
    http::ResponseHead not_modified{304, "Not Modified", cache::not_modified_fields(head.headers)};
    add_response_fields(not_modified.headers, req, info);
    co_await out.write_head(std::move(not_modified), std::nullopt);
    co_await out.finish();
    client = nullptr;
  } else {
    add_response_fields(head.headers, req, info);
    if (!co_await out.write_head(std::move(head), content_length)) client = nullptr;
  }

  auto validator = cache::strong_validator(meta.headers).value_or("");  // peer_probe made sure there is one
  ResumingSource source(*partial.body, 0, content_length, validator, rest_from_origin(req, validator), req.target);
  auto pumped = co_await pump(source, PumpTargets{.client = client, .fill = plan.fill ? &plan.fill->fill() : nullptr});
  // The other instance died before it stored the object; this one has it
  // all in its fill now, so later requests anywhere in the fleet are hits
  // instead of one more fetch.
  if (source.resumed() && pumped.complete && plan.fill && plan.lookup && plan.lookup->storage_key()) {
    co_await store_resumed(req.target, partial.meta, plan.fill->fill(), *plan.lookup->storage_key());
  }
  co_return outcome;
}

asio::awaitable<void> Handler::store_resumed(const std::string& target, storage::EntryMeta meta, const Fill& fill,
                                            const storage::CacheKey& key) {
  // Another survivor may have been quicker.
  if (auto stored = co_await shared_.storage->get(key); stored && *stored) co_return;
  auto writer = co_await shared_.storage->put(key, std::move(meta));
  if (!writer) co_return;
  std::string buffer;
  std::shared_ptr<const std::string> hold;
  std::uint64_t offset = 0;
  for (;;) {
    auto snapshot = fill.read(offset, buffer, hold);
    if (snapshot.unreadable) co_return;  // the writer is dropped uncommitted: nothing stays
    if (snapshot.data.empty()) break;
    offset += snapshot.data.size();
    if (auto written = co_await (*writer)->write(snapshot.data); !written) co_return;
  }
  if (auto committed = co_await (*writer)->commit(); !committed) {
    log::debug("not stored ", target, " after resuming it: ", committed.error().message());
    co_return;
  }
  log::info("stored ", target, " (", offset, " bytes) in place of the instance that died filling it");
}

}  // namespace relay::proxy
