// The request path, top-down:
//   serve   -> route -> (metrics | bad target | bypass | lookup)
//   lookup  -> fresh stored response -> deliver (HIT)
//           -> otherwise             -> forward (MISS, storing while streaming)
//   forward -> origin error          -> 502/504
// Storage failures never fail a request: they count and fall through to the
// origin. Bodies stream chunk by chunk in both directions.
#include "relay/proxy/handler.hpp"

#include <charconv>
#include <random>

#include "relay/cache/key.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;
using steady = std::chrono::steady_clock;

namespace {

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

std::optional<std::uint64_t> parse_content_length(const http::Headers& headers) {
  auto value = headers.get("content-length");
  if (!value) return std::nullopt;
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc{} || ptr != value->data() + value->size()) return std::nullopt;
  return n;
}

bool is_timeout(const error_code& e) {
  return e == Errc::upstream_timeout || e == Errc::upstream_first_byte_timeout ||
         e == Errc::upstream_idle_timeout;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// An absolute-form target (RFC 9112 §3.2.2) is sent to the origin as origin-form.
std::string origin_form(const std::string& target) {
  auto scheme_end = target.find("://");
  if (target.starts_with('/') || target == "*" || scheme_end == std::string::npos) return target;
  auto path = target.find_first_of("/?", scheme_end + 3);
  if (path == std::string::npos) return "/";
  std::string out;
  if (target[path] == '?') out.push_back('/');
  out.append(target, path, std::string::npos);
  return out;
}

}  // namespace

std::string request_id_for(const http::Request& req) {
  if (auto given = req.headers.get("x-request-id"); given && !given->empty() && given->size() <= 200) {
    bool printable = std::all_of(given->begin(), given->end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (printable) return std::string(*given);
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char out[17];
  auto value = rng();
  for (int i = 15; i >= 0; --i, value >>= 4) out[i] = "0123456789abcdef"[value & 0xf];
  out[16] = '\0';
  return out;
}

Handler::Handler(Shared shared, upstream::CurlMulti& multi)
    : shared_(std::move(shared)), cfg_(shared_.config), multi_(multi) {
  policy_.default_ttl = std::chrono::duration_cast<cache::Seconds>(cfg_.cache.default_ttl);
  policy_.max_object_size = cfg_.cache.max_object_size;
  // url = scheme://authority[/prefix]: the prefix is prepended to every target.
  const auto& url = cfg_.upstream.url;
  auto authority_start = url.find("://") + 3;
  auto path_start = std::min(url.find('/', authority_start), url.size());
  upstream_base_ = url.substr(0, path_start);
  upstream_host_ = url.substr(authority_start, path_start - authority_start);
  upstream_prefix_ = url.substr(path_start);
  while (upstream_prefix_.ends_with('/')) upstream_prefix_.pop_back();
}

asio::awaitable<void> Handler::serve(http::Request& req, upstream::RequestBodySource& body,
                                     server::ResponseWriter& out) {
  auto start = steady::now();
  req.request_id = request_id_for(req);
  Outcome outcome = co_await route(req, body, out);
  if (!out.head_sent()) {
    // A path that ended without answering (client gone): nothing more to say.
    out.force_close();
  }
  double elapsed = seconds_since(start);
  shared_.metrics.record_request(outcome.cache, elapsed);
  if (shared_.access_log.enabled()) {
    AccessRecord record;
    record.client = req.client_address;
    record.method = req.method;
    record.target = req.target;
    record.version_minor = req.version_minor;
    record.status = out.status();
    record.cache = outcome.cache;
    record.bytes = out.body_bytes();
    record.duration_seconds = elapsed;
    record.upstream_seconds = outcome.upstream_seconds;
    record.request_id = req.request_id;
    record.referer = req.headers.get("referer").value_or("");
    record.user_agent = req.headers.get("user-agent").value_or("");
    shared_.access_log.write(record);
  }
}

asio::awaitable<Handler::Outcome> Handler::route(http::Request& req, upstream::RequestBodySource& body,
                                                 server::ResponseWriter& out) {
  if (cfg_.metrics.enabled && path_of(req.target) == cfg_.metrics.path && !req.has_body &&
      (req.method == "GET" || req.method == "HEAD")) {
    co_await serve_metrics(req, out);
    co_return Outcome{};
  }
  if (!cache::request_may_use_cache(req.method, req.headers)) {
    co_return co_await forward(req, body, out, nullptr);
  }
  auto key = cache::make_key(req, cfg_.cache.key);
  if (!key.ok) {
    log::info("rejecting request target ", req.target, ": ", key.error);
    shared_.metrics.record_client_error(400);
    co_await out.write_simple(400, "text/plain", "relay: invalid request target\n");
    out.force_close();
    co_return Outcome{};
  }

  auto stored = co_await shared_.storage->get(key.key.primary);
  if (!stored) {
    shared_.metrics.record_storage_error();
    log::warn("storage lookup failed, passing through: ", stored.error().message());
  } else if (stored->has_value()) {
    const auto& meta = (*stored)->meta;
    auto now = std::chrono::system_clock::now();
    auto age = cache::current_age(meta.headers, meta.request_time, meta.response_time, now);
    if (cache::freshness_lifetime(meta.headers, policy_) > age &&
        !cache::needs_validation(req.headers, meta.headers, age)) {
      co_return co_await deliver(req, std::move(**stored), out, age);
    }
  }
  co_return co_await forward(req, body, out, &key.key.primary);
}

asio::awaitable<Handler::Outcome> Handler::deliver(const http::Request& req, storage::Hit hit,
                                                   server::ResponseWriter& out, cache::Seconds age) {
  auto& meta = hit.meta;
  http::ResponseHead head{meta.status, meta.reason, meta.headers};
  head.headers.set("Age", std::to_string(age.count()));
  add_response_fields(head.headers, req, CacheStatus::Hit);
  co_await out.write_head(std::move(head), meta.body_size);
  if (!req.is_head()) {
    for (;;) {
      auto chunk = co_await hit.body->read();
      if (!chunk) {
        // Headers are out: the only honest signal left is a short body.
        shared_.metrics.record_storage_error();
        log::warn("storage read failed mid-body for ", req.target, ": ", chunk.error().message());
        out.force_close();
        co_return Outcome{CacheStatus::Hit};
      }
      if (chunk->empty()) break;
      if (!co_await out.write_body(*chunk)) co_return Outcome{CacheStatus::Hit};
    }
  }
  co_await out.finish();
  co_return Outcome{CacheStatus::Hit};
}

asio::awaitable<Handler::Outcome> Handler::forward(const http::Request& req, upstream::RequestBodySource& body,
                                                   server::ResponseWriter& out, const std::string* key) {
  Outcome outcome{key ? CacheStatus::Miss : CacheStatus::Bypass};
  auto started_at = steady::now();
  auto request_time = std::chrono::system_clock::now();
  auto started = co_await upstream::Transfer::start(multi_, cfg_.upstream, upstream_request(req, body));
  outcome.upstream_seconds = seconds_since(started_at);
  if (!started) {
    co_await respond_upstream_error(req, started.error(), outcome.cache, out);
    co_return outcome;
  }
  auto& transfer = **started;
  shared_.metrics.record_upstream_response(transfer.head().status);

  http::ResponseHead head = transfer.head();
  http::strip_hop_by_hop(head.headers);
  auto response_time = std::chrono::system_clock::now();
  if (!head.headers.contains("date")) head.headers.add("Date", cache::format_http_date(response_time));
  auto content_length = parse_content_length(head.headers);

  std::unique_ptr<storage::BodyWriter> writer;
  if (key && req.method == "GET") {
    auto decision = cache::may_store(req.method, req.headers, head.status, head.headers, policy_);
    if (decision == cache::StoreDecision::Store) {
      storage::EntryMeta meta{head.status, head.reason, head.headers, request_time, response_time, 0};
      auto put = co_await shared_.storage->put(*key, std::move(meta));
      if (put) {
        writer = std::move(*put);
      } else {
        shared_.metrics.record_storage_error();
        log::warn("storage put failed, passing through: ", put.error().message());
      }
    } else {
      outcome.cache = CacheStatus::Bypass;
      log::debug("not storing ", req.target, ": ", cache::to_string(decision));
    }
  }

  add_response_fields(head.headers, req, outcome.cache);
  if (!co_await out.write_head(std::move(head), content_length)) co_return outcome;
  for (;;) {
    auto chunk = co_await transfer.read();
    if (!chunk) {
      shared_.metrics.record_upstream_error(chunk.error());
      log::warn("origin failed mid-body for ", req.method, " ", req.target, ": ", chunk.error().message(),
                " (", transfer.error_detail(), ")");
      out.force_close();
      co_return outcome;
    }
    if (chunk->empty()) break;
    if (writer && !co_await writer->write(*chunk)) writer.reset();
    // A client that leaves aborts the origin transfer (the Transfer's destructor).
    if (!co_await out.write_body(*chunk)) co_return outcome;
  }
  if (writer) {
    if (auto committed = co_await writer->commit(); !committed) {
      log::debug("not stored ", req.target, ": ", committed.error().message());
    }
  }
  co_await out.finish();
  co_return outcome;
}

asio::awaitable<void> Handler::respond_upstream_error(const http::Request& req, const error_code& error,
                                                      CacheStatus status_for_log, server::ResponseWriter& out) {
  if (error == Errc::client_closed) {
    out.force_close();
    co_return;
  }
  shared_.metrics.record_upstream_error(error);
  int status = is_timeout(error) ? 504 : 502;
  log::warn("origin request failed for ", req.method, " ", req.target, ": ", error.message(), " -> ", status);
  http::Headers extra;
  add_response_fields(extra, req, status_for_log);
  auto body = "relay: " + error.message() + "\n";
  co_await out.write_simple(status, "text/plain", body, std::move(extra));
  // A request body may be half-read: this connection cannot carry another request.
  if (req.has_body) out.force_close();
}

asio::awaitable<void> Handler::serve_metrics(const http::Request& req, server::ResponseWriter& out) {
  http::Headers extra;
  extra.add("Cache-Control", "no-store");
  extra.add("X-Request-ID", req.request_id);
  co_await out.write_simple(200, "text/plain; version=0.0.4; charset=utf-8", shared_.metrics.render(),
                            std::move(extra));
}

upstream::UpstreamRequest Handler::upstream_request(const http::Request& req,
                                                    upstream::RequestBodySource& body) const {
  upstream::UpstreamRequest up;
  up.method = req.method;
  up.url = upstream_base_ + "/";
  up.target = origin_form(req.target);
  if (up.target.starts_with('/')) up.target.insert(0, upstream_prefix_);
  up.headers = req.headers;
  http::strip_hop_by_hop(up.headers);
  up.headers.remove("expect");  // 100-continue is answered by relay itself
  if (req.has_body) {
    up.headers.remove("content-length");  // curl frames the body it streams
    up.body = &body;
    up.body_length = req.content_length;
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

void Handler::add_response_fields(http::Headers& headers, const http::Request& req, CacheStatus status) const {
  auto via = headers.get_combined("via");
  headers.set("Via", (via ? *via + ", " : std::string()) + "1.1 relay");
  headers.set("X-Cache", std::string(cache::header_value(status)));
  headers.set("X-Request-ID", req.request_id);
}

}  // namespace relay::proxy
