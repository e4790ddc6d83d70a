// stale-while-revalidate (RFC 5861 §3): the client got the stale response;
// here one background request per key brings the stored response up to
// date: a 304 freshens it, a storable response replaces it. Nobody waits
// for this, so failures are only logged and counted.
#include <boost/asio/co_spawn.hpp>

#include "relay/cache/origin_verdict.hpp"
#include "relay/cache/vary.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/pump.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using sys = std::chrono::system_clock;

namespace {
class NoBody final : public http::BodySource {
 public:
  asio::awaitable<Result<std::span<const char>>> read() override { co_return std::span<const char>{}; }
};
}  // namespace

void Handler::revalidate_in_background(const http::Request& req, const cache::ResolvedRule& rule,
                                       const Lookup& found) {
  if (!found.storage_key) return;
  // Through the key's session: one fetch per key, and requests arriving
  // after the stale window follow this fill instead of starting another.
  auto permit = shared_.sessions.try_fill(found.storage_key->flat());
  if (!permit) return;
  Lookup copy;
  copy.primary = found.primary;
  copy.storage_key = found.storage_key;
  copy.vary_names = found.vary_names;
  copy.generation = found.generation;
  copy.hit = storage::Hit{found.hit->meta, nullptr};
  http::Request background = req;
  background.method = "GET";
  background.has_body = false;
  background.content_length.reset();
  auto key = found.storage_key->flat();
  background_.spawn(multi_.io().get_executor(),
                    background_revalidation(std::move(background), rule, std::move(copy), std::move(*permit)),
                    [this, key](std::exception_ptr failure) {
                      if (failure && !background_.cancelled()) {
                        try {
                          std::rethrow_exception(failure);
                        } catch (const std::exception& e) {
                          log::error("background revalidation of ", key, " aborted: ", e.what());
                        }
                      }
                      if (background_.empty() && on_background_idle) on_background_idle();
                    });
}

asio::awaitable<void> Handler::background_revalidation(http::Request req, cache::ResolvedRule rule, Lookup found,
                                                       WritePermit fill) {
  const auto request = cache::request_facts(req.method, req.headers);
  FetchPlan plan{&rule, &found, std::nullopt, "stale", &fill, &request};
  NoBody no_body;
  auto request_time = sys::now();
  auto started = co_await upstream::Transfer::start(multi_, cfg_.upstream, upstream_request(req, &no_body, plan));
  if (!started) {
    shared_.metrics.record_upstream_error(started.error());
    log::warn("background revalidation of ", req.target, " failed: ", started.error().message());
    co_return;
  }
  auto& transfer = **started;
  shared_.metrics.record_upstream_response(transfer.head().status);
  OriginAnswer answer{transfer.head(), {}, request_time, sys::now()};
  prepare_head(answer.head, answer.response_time);

  const auto& policy = rule.policy;
  const auto& stored_meta = found.hit->meta;
  const auto stored_facts =
      cache::response_facts(stored_meta.status, stored_meta.headers, policy.targeted_fields, request_time);
  const cache::StoredView stored{stored_facts, stored_meta.headers};
  answer.facts = cache::response_facts(answer.head.status, answer.head.headers, policy.targeted_fields,
                                       answer.response_time);
  const cache::OriginContext context{&policy, &request, &stored,
                                     std::chrono::duration_cast<cache::Seconds>(cfg_.storage.keep_time)};
  auto verdict = cache::on_origin_response(context, cache::OriginResponse{answer.facts, answer.head.headers});

  if (auto* revalidated = std::get_if<cache::Revalidated>(&verdict)) {
    storage::EntryMeta meta = stored_meta;
    meta.headers = std::move(revalidated->fields);
    meta.request_time = answer.request_time;
    meta.response_time = answer.response_time;
    co_await shared_.storage->update_meta(*found.storage_key, std::move(meta));  // failures are counted there
    fill->release(Release::Retry);
    co_return;
  }
  std::unique_ptr<storage::BodyWriter> writer;
  if (auto* store = std::get_if<cache::Store>(&verdict)) writer = co_await open_store(req, plan, answer, store->keep_for);
  if (!writer) {
    // An error keeps the stale copy for stale-if-error; a final "do not store" removes it.
    const auto* pass = std::get_if<cache::PassThrough>(&verdict);
    const auto* share = std::get_if<cache::ShareOnly>(&verdict);
    if ((pass && pass->stored == cache::StoredUpdate::Remove) || (share && share->drop_stored)) {
      co_await shared_.storage->remove(*found.storage_key);
    }
    fill->release(Release::FetchAlone);
    co_return;
  }
  const auto& head = answer.head;
  http::ResponseHead shared{head.status, head.reason, cache::storable_fields(head.headers, answer.facts.cc, policy)};
  fill->publish_head(std::move(shared), answer.facts.content_length, cache::variant_for(answer.facts.vary, req.headers));
  // Nobody waits for this but the followers: the store is what it is for.
  auto pumped = co_await pump(transfer, PumpTargets{.store = writer.get(), .fill = &fill.fill()});
  if (pumped.source_error) shared_.metrics.record_upstream_error(pumped.source_error);
}

}  // namespace relay::proxy
