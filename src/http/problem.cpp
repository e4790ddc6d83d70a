// Problem details (problem.hpp): Accept negotiation, the two renderings and
// the one writer. The JSON goes through json::quote, so a detail that holds
// client bytes (a target, a Host) stays valid JSON.
#include "relay/http/problem.hpp"

#include <algorithm>
#include <vector>

#include "relay/http/response.hpp"
#include "relay/util/json.hpp"

namespace relay::http {

namespace {

struct MediaRange {
  std::string type;     // lower-cased, "*" for any
  std::string subtype;  // lower-cased, "*" for any
  double q = 1.0;
};

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 9110 §12.4.2).
std::optional<double> parse_qvalue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  const int whole = text[0] - '0';
  if (text.size() == 1) return whole;
  if (text[1] != '.' || text.size() > 5) return std::nullopt;
  int thousandths = 0;
  for (std::size_t i = 2; i < 5; ++i) {
    const char c = i < text.size() ? text[i] : '0';
    if (c < '0' || c > '9') return std::nullopt;
    thousandths = thousandths * 10 + (c - '0');
  }
  if (whole == 1 && thousandths != 0) return std::nullopt;
  return whole + thousandths / 1000.0;
}

// One element of Accept; nullopt when it is not a media range or its q is malformed.
std::optional<MediaRange> parse_media_range(std::string_view element) {
  const auto semi = element.find(';');
  const auto range = trim(element.substr(0, semi));
  const auto slash = range.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  MediaRange out{to_lower(trim(range.substr(0, slash))), to_lower(trim(range.substr(slash + 1)))};
  if (!is_token(out.type) || !is_token(out.subtype)) return std::nullopt;
  std::string_view params = semi == std::string_view::npos ? std::string_view() : element.substr(semi + 1);
  while (!params.empty()) {
    const auto next = params.find(';');
    const auto param = trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "q")) continue;
    auto q = parse_qvalue(trim(param.substr(eq + 1)));
    if (!q) return std::nullopt;
    out.q = *q;
  }
  return out;
}

// The q the client gives `type/subtype`: that of the most specific range
// matching it (exact > type/* > */*), 0 when none does.
double quality_of(const std::vector<MediaRange>& ranges, std::string_view type, std::string_view subtype) {
  int best_specificity = 0;
  double q = 0.0;
  for (const auto& r : ranges) {
    int specificity = 0;
    if (r.type == type && r.subtype == subtype)
      specificity = 3;
    else if (r.type == type && r.subtype == "*")
      specificity = 2;
    else if (r.type == "*" && r.subtype == "*")
      specificity = 1;
    if (specificity == 0 || specificity < best_specificity) continue;
    q = specificity > best_specificity ? r.q : std::max(q, r.q);
    best_specificity = specificity;
  }
  return q;
}

}  // namespace

ProblemFormat negotiate_problem_format(std::optional<std::string_view> accept) {
  if (!accept) return ProblemFormat::Json;
  std::vector<MediaRange> ranges;
  for_each_list_element(*accept, [&](std::string_view element) {
    if (auto range = parse_media_range(element)) ranges.push_back(std::move(*range));
  });
  const double json =
      std::max(quality_of(ranges, "application", "problem+json"), quality_of(ranges, "application", "json"));
  const double text = quality_of(ranges, "text", "plain");
  return text > json ? ProblemFormat::Text : ProblemFormat::Json;
}

std::string problem_type_uri(std::string_view slug) {
  if (slug.empty()) return "about:blank";
  std::string uri(kProblemTypePrefix);
  uri.append(slug);
  return uri;
}

std::string problem_json(const Problem& problem, std::string_view request_id) {
  json::Object body;
  body.add("type", problem_type_uri(problem.slug))
      .add("title", reason_phrase(problem.status))
      .add("status", problem.status)
      .add("detail", problem.detail);
  if (!request_id.empty()) body.add("request_id", request_id);
  return body.str();
}

std::string problem_text(const Problem& problem, std::string_view request_id) {
  std::string text = std::to_string(problem.status);
  text.push_back(' ');
  text.append(reason_phrase(problem.status)).push_back('\n');
  if (!problem.detail.empty()) text.append(problem.detail).push_back('\n');
  if (!request_id.empty()) text.append("request id: ").append(request_id).push_back('\n');
  return text;
}

boost::asio::awaitable<Result<void>> respond_problem(ResponseSink& out, const Request& req, int status,
                                                     std::string slug, std::string detail, Headers headers) {
  Problem problem{status, std::move(slug), std::move(detail), std::move(headers)};
  const auto format = negotiate_problem_format(req.headers.get_combined("accept"));
  const std::string body = format == ProblemFormat::Json ? problem_json(problem, req.request_id)
                                                         : problem_text(problem, req.request_id);
  if (!req.request_id.empty() && !problem.headers.contains("x-request-id"))
    problem.headers.add("X-Request-ID", req.request_id);
  if (!problem.headers.contains("cache-control")) problem.headers.add("Cache-Control", "no-store");
  const std::string_view type =
      format == ProblemFormat::Json ? kProblemJsonType : "text/plain; charset=utf-8";
  co_return co_await out.write_simple(problem.status, type, body, std::move(problem.headers));
}

std::string body_limit_detail(std::uint64_t limit) {
  std::string detail = "request bodies are limited to ";
  detail.append(std::to_string(limit)).append(" bytes here");
  return detail;
}

}  // namespace relay::http
