// Another instance's fill, streamed while that instance writes it to the
// shared store (Storage::get_in_progress): the cross-instance counterpart of
// follow.cpp. This request is its own instance's writer for the key, so it
// feeds the local Fill as it goes and local followers ride along: one
// origin request for the fleet, one shared-store reader per instance.
//
// Should the other instance die midway (its announcement expires, the
// store reader fails), the rest of the body comes from the origin with
// "Range: bytes=<received>-" and If-Range on the response's strong
// validator, so the client still receives the whole, identical body. That
// is why only responses with a strong validator are streamed this way
// (distributed.cpp); the others are awaited until they are committed.
#include "relay/cache/freshness.hpp"
#include "relay/cache/range.hpp"
#include "relay/cache/validation.hpp"
#include "relay/cache/vary.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;

asio::awaitable<Handler::Outcome> Handler::stream_peer_fill(const http::Request& req, storage::Hit partial,
                                                            FetchPlan& plan, server::ResponseWriter& out) {
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
  strip_targeted(head.headers);
  auto age = cache::current_age(meta.headers, meta.request_time, meta.response_time, std::chrono::system_clock::now());
  head.headers.set("Age", std::to_string(age.count()));
  // The client is done once answered in full, or gone; the stream goes on
  // while local followers need it.
  bool client_done = false;
  if (cache::answer_not_modified(req.headers, meta.headers, meta.status)) {
    http::ResponseHead not_modified{304, "Not Modified", cache::not_modified_fields(head.headers)};
    add_response_fields(not_modified.headers, req, info);
    co_await out.write_head(std::move(not_modified), std::nullopt);
    co_await out.finish();
    client_done = true;
  } else {
    add_response_fields(head.headers, req, info);
    client_done = !co_await out.write_head(std::move(head), content_length);
  }

  std::uint64_t received = 0;
  bool whole = false;
  for (;;) {
    if (client_done && (!plan.fill || (*plan.fill)->followers() == 0)) break;
    auto chunk = co_await partial.body->read();
    if (!chunk) {
      if (content_length && received == *content_length) {
        whole = true;  // every byte arrived; only the commit went missing
        break;
      }
      log::warn("the instance filling ", req.target, " stopped midway (", chunk.error().message(),
                "): fetching the rest from the origin at byte ", received);
      whole = co_await resume_from_origin(req, plan, meta.headers, received, out, client_done);
      break;
    }
    if (chunk->empty()) {
      whole = true;
      break;
    }
    received += chunk->size();
    if (plan.fill) (*plan.fill)->append(*chunk);
    if (!client_done && !co_await out.write_body(*chunk)) client_done = true;
  }
  if (plan.fill) whole ? (*plan.fill)->complete() : (*plan.fill)->fail();
  if (!whole) {
    out.force_close();  // the head is out: a short body is the only honest signal left
    co_return outcome;
  }
  if (!client_done) co_await out.finish();
  co_return outcome;
}

asio::awaitable<bool> Handler::resume_from_origin(const http::Request& req, const FetchPlan& plan,
                                                  const http::Headers& stored, std::uint64_t offset,
                                                  server::ResponseWriter& out, bool& client_done) {
  auto validator = cache::strong_validator(stored);
  if (!validator) co_return false;
  auto up = upstream_request(req, nullptr, plan);
  up.headers.set("Range", "bytes=" + std::to_string(offset) + "-");
  up.headers.set("If-Range", *validator);
  auto started = co_await upstream::Transfer::start(multi_, cfg_.upstream, std::move(up));
  if (!started) {
    shared_.metrics.record_upstream_error(started.error());
    log::warn("resuming ", req.target, " from the origin failed: ", started.error().message());
    co_return false;
  }
  auto& transfer = **started;
  const auto& head = transfer.head();
  shared_.metrics.record_upstream_response(head.status);
  // Only the very same representation may continue the bytes already sent.
  if (cache::strong_validator(head.headers) != validator) {
    log::warn("resuming ", req.target, ": the origin now sends another representation");
    co_return false;
  }
  std::uint64_t skip = 0;  // a 200 (Range ignored) repeats what was already sent
  if (head.status == 200) {
    skip = offset;
  } else if (head.status != 206 ||
             !head.headers.get("content-range").value_or("").starts_with("bytes " + std::to_string(offset) + "-")) {
    log::warn("resuming ", req.target, ": the origin answered ", head.status, " to a range from byte ", offset);
    co_return false;
  }
  for (;;) {
    auto chunk = co_await transfer.read();
    if (!chunk) {
      shared_.metrics.record_upstream_error(chunk.error());
      co_return false;
    }
    if (chunk->empty()) co_return skip == 0;
    auto rest = *chunk;
    auto dropped = std::min<std::uint64_t>(skip, rest.size());
    rest = rest.subspan(dropped);
    skip -= dropped;
    if (rest.empty()) continue;
    if (plan.fill) (*plan.fill)->append(rest);
    if (!client_done && !co_await out.write_body(rest)) client_done = true;
    if (client_done && (!plan.fill || (*plan.fill)->followers() == 0)) co_return false;
  }
}

}  // namespace relay::proxy
