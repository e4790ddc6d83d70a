// ResumingSource (see resuming_source.hpp), and the handler's request for
// the rest of a body.
#include "relay/proxy/resuming_source.hpp"

#include "relay/cache/range.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;

asio::awaitable<Result<std::span<const char>>> ResumingSource::read() {
  if (origin_) co_return co_await read_origin();
  auto chunk = co_await first_.read();
  if (chunk) {
    received_ += chunk->size();
    co_return chunk;
  }
  // Every byte arrived; only the end went missing.
  if (size_ && received_ == *size_) co_return std::span<const char>{};
  log::warn(target_, ": its body stopped at byte ", received_, " (", chunk.error().message(),
            "): fetching the rest from the origin");
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

asio::awaitable<Result<std::span<const char>>> ResumingSource::read_origin() {
  for (;;) {
    auto chunk = co_await origin_->read();
    if (!chunk || chunk->empty()) co_return chunk;
    auto dropped = std::min<std::uint64_t>(skip_, chunk->size());
    skip_ -= dropped;
    if (dropped < chunk->size()) co_return chunk->subspan(dropped);
  }
}

ResumingSource::OpenRest Handler::rest_from_origin(const http::Request& req, std::string validator) {
  return [this, &req, validator = std::move(validator)](
             std::uint64_t offset) -> asio::awaitable<Result<std::unique_ptr<upstream::Transfer>>> {
    auto up = upstream_request(req, nullptr, FetchPlan{});
    // The client's own conditionals and range were answered already.
    for (auto name : {"if-none-match", "if-modified-since", "if-match", "if-unmodified-since"})
      up.headers.remove(name);
    up.headers.set("Range", "bytes=" + std::to_string(offset) + "-");
    up.headers.set("If-Range", validator);
    auto started = co_await upstreams_.start(req.route, req.target, std::move(up), nullptr, true);
    if (!started) {
      shared_.metrics.record_upstream_error(started.error());
      log::warn("resuming ", req.target, " from the origin failed: ", started.error().message());
      co_return started.error();
    }
    co_return std::move(*started);
  };
}

}  // namespace relay::proxy
