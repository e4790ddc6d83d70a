// The answers relay makes itself (400, 408, 413, 414, 429, 431, 502, 503,
// 504, ...): RFC 9457 problem details, or plain text for a client whose
// Accept prefers it. Rendering and Accept negotiation are pure functions;
// respond_problem() is the one place that writes such an answer, so every
// error carries the same fields: Content-Type, Cache-Control: no-store and
// the request id (header and body).
//
// type: "https://relay.dev/problems/<slug>", a stable identifier per cause
// (README lists them); it is not fetched by anyone. An empty slug is
// "about:blank" (RFC 9457 §4.2.1: the status code says it all).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/http/body.hpp"
#include "relay/http/headers.hpp"
#include "relay/http/request.hpp"
#include "relay/util/result.hpp"

namespace relay::http {

inline constexpr std::string_view kProblemJsonType = "application/problem+json";
inline constexpr std::string_view kProblemTypePrefix = "https://relay.dev/problems/";

// One error answer: what happened, in terms a client can act on.
struct Problem {
  int status = 500;
  std::string slug;    // the problem type (above); empty = about:blank
  std::string detail;  // this occurrence, for a person
  Headers headers;     // extra response fields: Retry-After, Allow, RateLimit, ...
};

enum class ProblemFormat { Json, Text };

// Text only when the client's Accept ranks text/plain strictly above every
// JSON form (application/problem+json, application/json) by q-value, the
// most specific matching range deciding each (RFC 9110 §12.5.1). No Accept,
// a tie, or nothing acceptable at all: JSON (an error is answered anyway).
ProblemFormat negotiate_problem_format(std::optional<std::string_view> accept);

std::string problem_type_uri(std::string_view slug);
// {"type","title","status","detail","request_id"}; title is the reason phrase.
std::string problem_json(const Problem& problem, std::string_view request_id);
// "<status> <title>\n<detail>\nrequest id: <id>\n"
std::string problem_text(const Problem& problem, std::string_view request_id);

// Writes the complete answer: the body in the negotiated format (the head
// alone for HEAD, as the sink frames it), X-Request-ID (the request's id,
// unless `headers` already has one) and Cache-Control: no-store.
// (The fields come one by one, not as a Problem: GCC 12 destroys a braced
// aggregate argument of a co_await'ed coroutine call twice.)
// The detail of a 413 for a body over `limit` bytes (any protocol says the same).
std::string body_limit_detail(std::uint64_t limit);

boost::asio::awaitable<Result<void>> respond_problem(ResponseSink& out, const Request& req, int status,
                                                     std::string slug, std::string detail,
                                                     Headers headers = {});

}  // namespace relay::http
