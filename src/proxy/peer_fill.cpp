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
// identical body. That is why only responses with a strong validator are
// streamed this way (peer_probe); the others are awaited until committed.
#include "relay/cache/freshness.hpp"
#include "relay/cache/range.hpp"
#include "relay/cache/validation.hpp"
#include "relay/cache/vary.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/pump.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;

namespace {

// The peer's body, continued from the origin if the peer stops midway.
class ResumingSource final : public http::BodySource {
 public:
  using OpenRest = std::function<asio::awaitable<Result<std::unique_ptr<upstream::Transfer>>>(std::uint64_t)>;

  ResumingSource(http::BodySource& peer, std::optional<std::uint64_t> content_length, std::string validator,
                 OpenRest open_rest, std::string target)
      : peer_(peer),
        content_length_(content_length),
        validator_(std::move(validator)),
        open_rest_(std::move(open_rest)),
        target_(std::move(target)) {}

  asio::awaitable<Result<std::span<const char>>> read() override {
    if (origin_) co_return co_await read_origin();
    auto chunk = co_await peer_.read();
    if (chunk) {
      received_ += chunk->size();
      co_return chunk;
    }
    // Every byte arrived; only the commit went missing.
    if (content_length_ && received_ == *content_length_) co_return std::span<const char>{};
    log::warn("the instance filling ", target_, " stopped midway (", chunk.error().message(),
              "): fetching the rest from the origin at byte ", received_);
    auto opened = co_await open_rest_(received_);
    if (!opened) co_return opened.error();
    origin_ = std::move(*opened);
    const auto& head = origin_->head();
    // Only the very same representation may continue the bytes already sent.
    if (cache::strong_validator(head.headers) != validator_) {
      log::warn("resuming ", target_, ": the origin now sends another representation");
      co_return make_error_code(Errc::upstream_protocol);
    }
    if (head.status == 200) {
      skip_ = received_;  // Range ignored: it repeats what was already sent
    } else if (head.status != 206 ||
               !head.headers.get("content-range").value_or("").starts_with("bytes " + std::to_string(received_) + "-")) {
      log::warn("resuming ", target_, ": the origin answered ", head.status, " to a range from byte ", received_);
      co_return make_error_code(Errc::upstream_protocol);
    }
    co_return co_await read_origin();
  }

 private:
  asio::awaitable<Result<std::span<const char>>> read_origin() {
    for (;;) {
      auto chunk = co_await origin_->read();
      if (!chunk || chunk->empty()) co_return chunk;
      auto dropped = std::min<std::uint64_t>(skip_, chunk->size());
      skip_ -= dropped;
      if (dropped < chunk->size()) co_return chunk->subspan(dropped);
    }
  }

  http::BodySource& peer_;
  const std::optional<std::uint64_t> content_length_;
  const std::string validator_;
  const OpenRest open_rest_;
  const std::string target_;
  std::uint64_t received_ = 0;
  std::uint64_t skip_ = 0;
  std::unique_ptr<upstream::Transfer> origin_;
};

}  // namespace

PeerProbe Handler::peer_probe(const http::Request& req, const cache::RequestFacts& request, const Lookup& found,
                              const cache::ResolvedRule& rule) {
  return [this, &req, &request, &found, &rule]() -> asio::awaitable<PeerView> {
    auto seen = co_await lookup(found.primary, req);
    if (seen.hit) {
      const auto& meta = seen.hit->meta;
      const auto now = std::chrono::system_clock::now();
      const auto stored = cache::response_facts(meta.status, meta.headers, rule.policy.targeted_fields, now);
      auto verdict = cache::classify(request, {stored, meta.request_time, meta.response_time, meta.internal.stale_at}, rule.policy, now);
      if (verdict.verdict != cache::Verdict::MustValidate) co_return PeerView{PeerView::Stored, std::nullopt};
    }
    if (!seen.storage_key) co_return PeerView{};
    auto partial = co_await shared_.storage->get_in_progress(*seen.storage_key);
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
  auto open_rest = [this, &req, &plan,
                    validator](std::uint64_t offset) -> asio::awaitable<Result<std::unique_ptr<upstream::Transfer>>> {
    auto up = upstream_request(req, nullptr, plan);
    up.headers.set("Range", "bytes=" + std::to_string(offset) + "-");
    up.headers.set("If-Range", validator);
    auto started = co_await upstreams_.start(req.route, plan.lookup ? plan.lookup->primary : req.target, std::move(up),
                                             nullptr, true);
    if (!started) {
      shared_.metrics.record_upstream_error(started.error());
      log::warn("resuming ", req.target, " from the origin failed: ", started.error().message());
      co_return started.error();
    }
    co_return std::move(*started);
  };
  ResumingSource source(*partial.body, content_length, validator, std::move(open_rest), req.target);
  co_await pump(source, PumpTargets{.client = client, .fill = plan.fill ? &plan.fill->fill() : nullptr});
  co_return outcome;
}

}  // namespace relay::proxy
