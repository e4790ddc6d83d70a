// stale-while-revalidate (RFC 5861 §3): the client got the stale response;
// here one background request per key brings the stored response up to
// date: a 304 freshens it, a storable response replaces it. Nobody waits
// for this, so failures are only logged and counted.
#include <boost/asio/co_spawn.hpp>


#include "relay/cache/validation.hpp"
#include "relay/cache/vary.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using sys = std::chrono::system_clock;

namespace {
class NoBody final : public upstream::RequestBodySource {
 public:
  asio::awaitable<Result<std::span<const char>>> read() override { co_return std::span<const char>{}; }
};
}  // namespace

void Handler::revalidate_in_background(const http::Request& req, const cache::ResolvedRule& rule,
                                       const Lookup& found) {
  if (!found.storage_key) return;
  // Through the coalescer: one fetch per key, and requests arriving after
  // the stale window follow this fill instead of starting another.
  auto ticket = shared_.coalescer.join(found.storage_key->flat());
  if (ticket.role != Coalescer::Role::Writer) return;
  FillGuard guard(shared_.coalescer, std::move(ticket.fill));
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
  ++background_tasks_;
  auto key = found.storage_key->flat();
  asio::co_spawn(multi_.io(), background_revalidation(std::move(background), rule, std::move(copy), std::move(guard)),
                 [this, key](std::exception_ptr failure) {
                   if (failure) {
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& e) {
                       log::error("background revalidation of ", key, " aborted: ", e.what());
                     }
                   }
                   if (--background_tasks_ == 0 && on_background_idle) on_background_idle();
                 });
}

asio::awaitable<void> Handler::background_revalidation(http::Request req, cache::ResolvedRule rule, Lookup found,
                                                       FillGuard fill) {
  FetchPlan plan{&rule, &found, std::nullopt, "stale", &fill};
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
  http::ResponseHead head = transfer.head();
  auto response_time = sys::now();
  prepare_head(head, response_time);

  if (head.status == 304) {
    storage::EntryMeta meta = found.hit->meta;
    meta.headers = cache::freshen(meta.headers, cache::storable_fields(head.headers, rule.policy));
    meta.request_time = request_time;
    meta.response_time = response_time;
    co_await shared_.storage->update_meta(*found.storage_key, std::move(meta));  // failures are counted there
    fill->release(Release::Retry);
    co_return;
  }
  auto decision = cache::StoreDecision::Store;
  auto writer = co_await open_store(req, plan, head, request_time, response_time, decision);
  if (!writer) {
    // An error keeps the stale copy for stale-if-error; a final "do not store" removes it.
    if (decision != cache::StoreDecision::Store && head.status < 500) co_await shared_.storage->remove(*found.storage_key);
    fill->release(Release::FetchAlone);
    co_return;
  }
  auto names = cache::vary_names(head.headers);
  auto variant = names.empty() ? std::string() : cache::vary_key(names, req.headers).value_or("");
  auto content_length = http::content_length(head.headers);
  http::ResponseHead shared{head.status, head.reason, cache::storable_fields(head.headers, rule.policy)};
  fill->publish_head(std::move(shared), content_length, std::move(variant));
  for (;;) {
    auto chunk = co_await transfer.read();
    if (!chunk) {
      shared_.metrics.record_upstream_error(chunk.error());
      co_return;  // the writer is dropped: nothing half-written becomes visible
    }
    if (chunk->empty()) break;
    if (!co_await writer->write(*chunk)) co_return;
    fill->append(*chunk);
  }
  co_await writer->commit();
  fill->complete();
}

}  // namespace relay::proxy
