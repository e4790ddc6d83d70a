// The request path without sockets: Handler::serve against a recording
// sink, with the cache in memory. Only what needs no origin is driven here
// (a hit, a 304 from the cache, only-if-cached, a refused target); the
// origin paths are covered by tests/integration with a real origin.
#include <doctest/doctest.h>

#include "relay/cache/key.hpp"
#include "relay/cache/policy.hpp"
#include "relay/cache/target.hpp"
#include "relay/config/config.hpp"
#include "relay/gateway/origins.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/storage/memory_lru.hpp"
#include "relay/upstream/curl_multi.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::test;

namespace {

struct World {
  World() {
    cfg.log.access_log.to = config::AccessLogTarget::To::Off;
    storage = std::make_shared<storage::MemoryLru>(1 << 20);
    access_log = std::make_unique<proxy::AccessLog>(cfg.log);
    sessions = std::make_unique<proxy::KeySessions>(proxy::CoalescerSettings{}, nullptr, &metrics);
    config::complete_gateway(cfg);
    multi = std::make_unique<upstream::CurlMulti>(io, cfg.upstream, 1);
    origins = std::make_unique<gateway::Origins>(cfg, metrics.registry());
    upstream::CurlMulti* multis[] = {multi.get()};
    handler = std::make_unique<proxy::Handler>(proxy::Shared{std::make_shared<const config::Config>(cfg), storage,
                                                             metrics, *access_log, *sessions, nullptr, origins.get()},
                                               multis);
  }

  void store(const std::string& target, const std::string& body, http::Headers fields) {
    http::Headers request;
    request.add("Host", "shop.test");
    auto normalized = cache::normalize_target(target, request);
    REQUIRE(normalized.ok);
    auto rule = cache::resolve_rule(cfg.cache, normalized.target.path);
    auto key = cache::make_key(normalized.target, request, rule.key);
    storage::EntryMeta meta;
    meta.status = 200;
    meta.reason = "OK";
    meta.headers = std::move(fields);
    meta.request_time = meta.response_time = std::chrono::system_clock::now();
    auto writer = run(io, storage->put(key.primary, meta));
    REQUIRE(writer.has_value());
    REQUIRE(run(io, (*writer)->write(std::span<const char>(body.data(), body.size()))).has_value());
    REQUIRE(run(io, (*writer)->commit()).has_value());
  }

  RecordingSink serve(const std::string& target, std::vector<std::pair<std::string, std::string>> extra = {}) {
    http::Request req;
    req.method = "GET";
    req.target = target;
    req.headers.add("Host", "shop.test");
    for (auto& [name, value] : extra) req.headers.add(name, value);
    req.client_address = "127.0.0.1";
    ScriptedSource no_body({});
    RecordingSink out;
    run(io, handler->serve(req, no_body, out));
    return out;
  }

  boost::asio::io_context io;
  config::Config cfg;
  metrics::Metrics metrics;
  std::shared_ptr<storage::Storage> storage;
  std::unique_ptr<proxy::AccessLog> access_log;
  std::unique_ptr<proxy::KeySessions> sessions;
  std::unique_ptr<upstream::CurlMulti> multi;
  std::unique_ptr<gateway::Origins> origins;
  std::unique_ptr<proxy::Handler> handler;
};

http::Headers fresh(std::string etag = "\"v1\"") {
  http::Headers h;
  h.add("Cache-Control", "max-age=600");
  h.add("Content-Type", "text/plain");
  h.add("Content-Length", "11");
  h.add("ETag", std::move(etag));
  return h;
}

}  // namespace

TEST_CASE("request path without sockets: a fresh entry is a HIT with its body, Age and Cache-Status") {
  World w;
  w.store("/page", "hello world", fresh());
  auto out = w.serve("/page");
  REQUIRE(out.head);
  CHECK(out.head->status == 200);
  CHECK(out.head->headers.get("x-cache") == "HIT");
  CHECK(out.head->headers.get("age") == "0");
  CHECK(out.head->headers.get("cache-status").value_or("").starts_with("relay; hit"));
  CHECK(out.content_length == 11);
  CHECK(out.body == "hello world");
  CHECK(out.finished);
}

TEST_CASE("request path without sockets: a matching If-None-Match is answered 304 from the cache") {
  World w;
  w.store("/page", "hello world", fresh());
  auto out = w.serve("/page", {{"If-None-Match", "\"v1\""}});
  REQUIRE(out.head);
  CHECK(out.head->status == 304);
  CHECK(out.body.empty());
}

TEST_CASE("request path without sockets: a Range is cut out of the stored body") {
  World w;
  w.store("/page", "hello world", fresh());
  auto out = w.serve("/page", {{"Range", "bytes=6-"}});
  REQUIRE(out.head);
  CHECK(out.head->status == 206);
  CHECK(out.head->headers.get("content-range") == "bytes 6-10/11");
  CHECK(out.body == "world");
}

TEST_CASE("request path without sockets: only-if-cached with nothing stored is a 504, never an origin request") {
  World w;
  auto out = w.serve("/missing", {{"Cache-Control", "only-if-cached"}});
  REQUIRE(out.head);
  CHECK(out.head->status == 504);
  CHECK(out.head->headers.get("x-cache") == "MISS");
}

TEST_CASE("request path without sockets: a dot-segment target reaches the entry of its normalised path") {
  World w;
  w.store("/page", "hello world", fresh());
  auto out = w.serve("/static/../page");
  REQUIRE(out.head);
  CHECK(out.head->headers.get("x-cache") == "HIT");
  CHECK(out.body == "hello world");
}
