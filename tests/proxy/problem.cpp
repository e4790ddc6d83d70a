// relay's own error answers (src/http/problem.cpp): RFC 9457 bodies, JSON
// escaping of client bytes, Accept negotiation by q-value (RFC 9110
// §12.5.1), and respond_problem's fields (request id, no-store). No sockets.
#include "relay/http/problem.hpp"

#include <doctest/doctest.h>

#include "relay/util/error_table.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::http;
using namespace relay::test;

namespace {
ProblemFormat format(const char* accept) {
  return negotiate_problem_format(std::string_view(accept));
}

RecordingSink respond(const Request& req, Problem problem) {
  boost::asio::io_context io;
  RecordingSink out;
  run(io, [&]() -> boost::asio::awaitable<void> {
    co_await respond_problem(out, req, problem.status, problem.slug, problem.detail, problem.headers);
  }());
  return out;
}
}  // namespace

TEST_CASE("problem: the JSON body has type, title, status, detail and request_id (RFC 9457 §3.1)") {
  const Problem p{413, "content-too-large", "request bodies are limited to 1024 bytes here", {}};
  CHECK(problem_json(p, "abc123") ==
        R"({"type":"https://relay.dev/problems/content-too-large","title":"Content Too Large","status":413,)"
        R"("detail":"request bodies are limited to 1024 bytes here","request_id":"abc123"})");
}

TEST_CASE(
    "problem: an empty slug is about:blank, and no request id leaves the member out (RFC 9457 §4.2.1)") {
  CHECK(problem_type_uri("") == "about:blank");
  CHECK(problem_json({404, "", "nothing here", {}}, "") ==
        R"({"type":"about:blank","title":"Not Found","status":404,"detail":"nothing here"})");
}

TEST_CASE("problem: client bytes in the detail stay valid JSON (quotes, backslashes, controls, bad UTF-8)") {
  const Problem p{400, "malformed-request", "bad target \"/a\\b\"\r\n\x01\xff", {}};
  CHECK(problem_json(p, "id\"1") ==
        R"({"type":"https://relay.dev/problems/malformed-request","title":"Bad Request","status":400,)"
        R"("detail":"bad target \"/a\\b\"\r\n\u0001)"
        "\xEF\xBF\xBD"
        R"(","request_id":"id\"1"})");
}

TEST_CASE("problem: the text form names status, title, detail and request id") {
  CHECK(problem_text({502, "upstream-connect", "origin unreachable", {}}, "r-9") ==
        "502 Bad Gateway\norigin unreachable\nrequest id: r-9\n");
  CHECK(problem_text({431, "x", "", {}}, "") == "431 Request Header Fields Too Large\n");
}

TEST_CASE("problem: JSON unless Accept ranks text/plain strictly higher (RFC 9110 §12.5.1)") {
  CHECK(negotiate_problem_format(std::nullopt) == ProblemFormat::Json);
  CHECK(format("") == ProblemFormat::Json);
  CHECK(format("*/*") == ProblemFormat::Json);
  CHECK(format("text/plain") == ProblemFormat::Text);
  CHECK(format("TEXT/Plain; charset=utf-8") == ProblemFormat::Text);
  CHECK(format("text/*") == ProblemFormat::Text);
  CHECK(format("text/html, text/plain;q=0.9, */*;q=0.8") == ProblemFormat::Text);
  CHECK(format("application/json, text/plain") == ProblemFormat::Json);  // a tie: JSON
  CHECK(format("text/plain;q=0.5, application/json") == ProblemFormat::Json);
  CHECK(format("text/plain, application/problem+json;q=0.9") == ProblemFormat::Text);
  CHECK(format("application/*;q=0.2, text/plain;q=0.3") == ProblemFormat::Text);
  CHECK(format("application/problem+json;q=0.4, text/plain;q=0.3") == ProblemFormat::Json);
  CHECK(format("text/html") == ProblemFormat::Json);  // neither: JSON anyway
  CHECK(format("text/plain;q=0") == ProblemFormat::Json);
}

TEST_CASE("problem: the most specific range decides a type's q, whatever the order") {
  // text/plain;q=0 outranks */*: text is refused though */* would take it.
  CHECK(format("*/*, text/plain;q=0") == ProblemFormat::Json);
  CHECK(format("text/*;q=0, text/plain;q=0.6, application/json;q=0.5") == ProblemFormat::Text);
  CHECK(format("application/json;q=0, */*;q=0.9") ==
        ProblemFormat::Json);  // problem+json still at 0.9 via */*
  CHECK(format("application/json;q=0, application/problem+json;q=0, text/plain;q=0.1") ==
        ProblemFormat::Text);
}

TEST_CASE("problem: malformed Accept elements are skipped, not trusted") {
  CHECK(format("text/plain;q=2") == ProblemFormat::Json);  // q out of range: ignored
  CHECK(format("text/plain;q=abc") == ProblemFormat::Json);
  CHECK(format("textplain, text/plain;q=0.5") == ProblemFormat::Text);
  CHECK(format("text/plain;q=0.1234") == ProblemFormat::Json);  // four decimals
  CHECK(format("text/plain;q=1.001") == ProblemFormat::Json);   // above 1
  CHECK(format("text/plain;q=1.000, application/json;q=0.999") == ProblemFormat::Text);
  CHECK(format("application/json;q=0., text/plain;q=0.001") == ProblemFormat::Text);
  CHECK(format("text/plain ; Q=0.7 , application/json;q=0.6") == ProblemFormat::Text);
}

TEST_CASE("problem: respond_problem writes the negotiated body with X-Request-ID and no-store") {
  Request req;
  req.method = "GET";
  req.request_id = "req-42";
  Headers extra;
  extra.add("Retry-After", "3");
  const auto json_out = respond(req, {429, "rate-limited", "slow down", std::move(extra)});
  REQUIRE(json_out.head);
  CHECK(json_out.head->status == 429);
  CHECK(json_out.content_type == "application/problem+json");
  CHECK(json_out.head->headers.get("x-request-id") == std::optional<std::string_view>("req-42"));
  CHECK(json_out.head->headers.get("cache-control") == std::optional<std::string_view>("no-store"));
  CHECK(json_out.head->headers.get("retry-after") == std::optional<std::string_view>("3"));
  CHECK(json_out.body.find(R"("request_id":"req-42")") != std::string::npos);

  req.headers.add("Accept", "text/plain");
  Headers given;
  given.add("X-Request-ID", "kept");
  const auto text_out = respond(req, {504, "upstream-timeout", "origin timed out", std::move(given)});
  REQUIRE(text_out.head);
  CHECK(text_out.content_type == "text/plain; charset=utf-8");
  CHECK(text_out.body == "504 Gateway Timeout\norigin timed out\nrequest id: req-42\n");
  CHECK(text_out.head->headers.get_combined("x-request-id") == std::optional<std::string>("kept"));
}

TEST_CASE("problem: an error decides its type from the error table") {
  CHECK(problem_slug(make_error_code(Errc::upstream_connect_failed)) == "upstream-connect");
  CHECK(problem_slug(make_error_code(Errc::upstream_first_byte_timeout)) == "upstream-timeout");
  CHECK(problem_slug(make_error_code(Errc::upstream_failed)) == "upstream-failed");
  CHECK(problem_slug(make_error_code(Errc::upstream_queue_timeout)) == "upstream-queue");
  CHECK(problem_slug(make_error_code(Errc::request_body_too_large)) == "body-too-large");
  CHECK(problem_slug(make_error_code(boost::system::errc::io_error)) == "internal-error");
}
