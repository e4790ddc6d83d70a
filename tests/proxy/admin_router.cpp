// The admin router (src/admin/router.cpp): the table of {method, path,
// handler}, HEAD on GET routes, and the RFC 9457 problems for an unknown
// path (404) and a wrong method (405 with Allow). No sockets.
#include <doctest/doctest.h>

#include "relay/admin/router.hpp"
#include "relay/util/json.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::admin;
using namespace relay::test;

namespace {

http::Request request(std::string method, std::string target) {
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(target);
  return req;
}

Router sample() {
  Router router;
  router.add("GET", "/a", [](const http::Request& req, http::BodySource&) -> boost::asio::awaitable<Reply> {
    co_return json_reply(200, json::Object().add("method", req.method).str());
  });
  router.add("POST", "/b", [](const http::Request&, http::BodySource& body) -> boost::asio::awaitable<Reply> {
    std::string got;
    for (;;) {
      auto chunk = co_await body.read();
      if (!chunk || chunk->empty()) break;
      got.append(chunk->data(), chunk->size());
    }
    co_return json_reply(202, json::Object().add("body", got).str());
  });
  router.add("DELETE", "/b", [](const http::Request&, http::BodySource&) -> boost::asio::awaitable<Reply> {
    co_return json_reply(204, "");
  });
  return router;
}

Reply dispatch(const Router& router, std::string method, std::string target, std::vector<std::string> body = {}) {
  boost::asio::io_context io;
  ScriptedSource source(std::move(body));
  return run(io, router.dispatch(request(std::move(method), std::move(target)), source));
}

}  // namespace

TEST_CASE("admin router: a route answers its method; HEAD takes the GET route; the query is ignored") {
  const auto router = sample();
  auto r = dispatch(router, "GET", "/a?x=1");
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"method":"GET"})");
  CHECK(dispatch(router, "HEAD", "/a").body == R"({"method":"HEAD"})");
  r = dispatch(router, "POST", "/b", {"{\"url\":", "\"/x\"}"});
  CHECK(r.status == 202);
  CHECK(r.body == R"({"body":"{\"url\":\"/x\"}"})");
}

TEST_CASE("admin router: an unknown path is a 404 problem (RFC 9457)") {
  const auto r = dispatch(sample(), "GET", "/nope");
  CHECK(r.status == 404);
  CHECK(r.content_type == "application/problem+json");
  CHECK(r.body == R"({"type":"about:blank","title":"Not Found","status":404,"detail":"no admin endpoint at /nope"})");
}

TEST_CASE("admin router: a known path with another method is a 405 problem naming the allowed ones") {
  const auto router = sample();
  auto r = dispatch(router, "PUT", "/b");
  CHECK(r.status == 405);
  CHECK(r.content_type == "application/problem+json");
  CHECK(r.headers.get("allow") == std::optional<std::string_view>("POST, DELETE"));
  r = dispatch(router, "POST", "/a");
  CHECK(r.headers.get("allow") == std::optional<std::string_view>("GET, HEAD"));
  CHECK(r.body.find(R"("status":405)") != std::string::npos);
}

TEST_CASE("json: strings are escaped, members keep their order") {
  CHECK(json::quote("a\"b\\c\n\r\t\x01") == R"("a\"b\\c\n\r\t\u0001")");
  CHECK(json::Object().add("z", 1).add("a", true).add("m", 1.5).add_raw("l", json::array({"1", "\"x\""})).str() ==
        R"({"z":1,"a":true,"m":1.500,"l":[1,"x"]})");
}
