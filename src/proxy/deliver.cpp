// Answering from storage: a stored response becomes a 200/206/304/416
// depending on the client's conditionals (RFC 9110 §13) and Range (§14),
// with Age, X-Cache and Cache-Status. The body streams from the store; a
// range is cut out of the stream without reading more than it needs, and
// the reader may skip what lies before it (BodyReader::start_at).
// The first chunk is read before the head is sent: a stored body that fails
// there (a damaged block, an I/O error) has cost the client nothing, and the
// caller answers otherwise (deliver returns nullopt). A later failure (a
// chunk an evicting Redis dropped meanwhile) is made good from the origin
// by Range when the response has a strong validator (ResumingSource), and
// otherwise cuts the response short; the store never hands out unverified
// bytes.

#include "relay/cache/range.hpp"
#include "relay/cache/validation.hpp"
#include "relay/http/problem.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/pump.hpp"
#include "relay/util/error_table.hpp"
#include "relay/util/log.hpp"
#include "relay/util/string_stash.hpp"

namespace relay::proxy {

namespace asio = boost::asio;

asio::awaitable<std::optional<Handler::Outcome>> Handler::deliver(const http::Request& req, storage::Hit hit,
                                                                  cache::CacheStatusInfo info,
                                                                  cache::Seconds age,
                                                                  http::ResponseSink& out) {
  Outcome outcome{info};
  const util::RecycleStringsOnExit recycle_tags(hit.meta.internal.tags);
  const auto& meta = hit.meta;
  // The hit is ours: its fields become the answer's without a copy. What
  // strip_for_client removes (tags, targeted fields) is no validator, so
  // the conditionals below read the same fields the stored response had.
  http::ResponseHead head{meta.status, meta.reason, std::move(hit.meta.headers)};
  head.headers.reserve(head.headers.size() + 8);  // Age, Accept-Ranges, Via, X-Cache, Cache-Status, ...
  strip_for_client(head.headers);
  head.headers.set("Age", std::to_string(age.count()));

  if (cache::answer_not_modified(req.headers, head.headers, meta.status)) {
    http::ResponseHead not_modified{304, "Not Modified", cache::not_modified_fields(head.headers)};
    add_response_fields(not_modified.headers, req, info);
    co_await out.write_head(std::move(not_modified), std::nullopt);
    co_await out.finish();
    co_return outcome;
  }

  const std::uint64_t size = meta.body_size;
  std::uint64_t begin = 0;
  std::uint64_t end = size;
  if (meta.status == 200) {
    if (!head.headers.contains("accept-ranges")) head.headers.add("Accept-Ranges", "bytes");
    if (req.method == "GET" && req.headers.contains("range")) {
      auto decision = cache::evaluate_range(req.headers, head.headers, size);
      if (decision.outcome == cache::RangeOutcome::Unsatisfiable) {
        http::Headers extra;
        extra.add("Content-Range", cache::unsatisfied_range(size));
        add_response_fields(extra, req, info);
        std::string detail = "no requested range overlaps the ";
        detail.append(std::to_string(size)).append(" bytes of the representation");
        co_await http::respond_problem(out, req, 416, "range-not-satisfiable", std::move(detail),
                                       std::move(extra));
        co_return outcome;
      }
      if (decision.outcome == cache::RangeOutcome::Partial) {
        head.status = 206;
        head.reason = "Partial Content";
        head.headers.set("Content-Range", cache::content_range(decision.range, size));
        begin = decision.range.first;
        end = decision.range.last + 1;
      }
    }
  }
  add_response_fields(head.headers, req, info);
  head.headers.set("Content-Length", std::to_string(end - begin));

  const bool body = !req.is_head() && end > begin;
  if (!body) {
    co_await out.write_head(std::move(head), end - begin);
    co_await out.finish();
    co_return outcome;
  }
  // A body in a file goes to a transport that sends files without passing
  // through user space; nothing can fail midway that a read would catch.
  if (auto file = hit.body->file(); file && out.sends_files()) {
    co_await out.write_head(std::move(head), end - begin);
    http::FileRegion window{file->fd, file->offset + begin, end - begin};
    if (auto sent = co_await out.write_file(window); !sent) co_return outcome;
    co_await out.finish();
    co_return outcome;
  }
  const std::uint64_t offset = hit.body->start_at(begin);  // where the reader's first chunk starts
  auto first = co_await hit.body->read();
  if (!first || first->empty()) {
    log::warn("stored body of ", req.target,
              " unreadable, nothing sent: ", first ? std::string("it is empty") : first.error().message());
    co_return std::nullopt;
  }
  // Only a body read in more than one go can fail midway: the validator
  // is copied for those alone (a one-read hit allocates nothing for it).
  std::optional<std::string> validator;
  if (meta.status == 200 && offset + first->size() < end) validator = cache::strong_validator(head.headers);
  co_await out.write_head(std::move(head), end - begin);
  PrimedSource primed(*first, *hit.body);
  std::optional<ResumingSource> resuming;
  if (validator) resuming.emplace(primed, offset, size, *validator, rest_from_origin(req, *validator), req.target);
  http::BodySource& source = resuming ? static_cast<http::BodySource&>(*resuming) : primed;
  auto pumped = co_await pump(
      source, PumpTargets{.client = &out, .source_offset = offset, .window_begin = begin, .window_end = end});
  if (pumped.source_error) {
    log::warn_for(pumped.source_error, "storage read failed mid-body for ", req.target, ": ", pumped.source_error.message());
  }
  co_return outcome;
}

asio::awaitable<Handler::Outcome> Handler::deliver_or_fail(const http::Request& req, storage::Hit hit,
                                                           cache::CacheStatusInfo info, cache::Seconds age,
                                                           http::ResponseSink& out) {
  if (auto answered = co_await deliver(req, std::move(hit), info, age, out)) co_return *answered;
  http::Headers extra;
  add_response_fields(extra, req, info);
  co_await http::respond_problem(out, req, 503, "storage-unreadable",
                                 "the stored response could not be read; retry", std::move(extra));
  co_return Outcome{info};
}

}  // namespace relay::proxy
