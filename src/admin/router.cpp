// Admin routing and problem details (router.hpp).
#include "relay/admin/router.hpp"

#include "relay/http/problem.hpp"

namespace relay::admin {

namespace asio = boost::asio;

Reply json_reply(int status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Reply problem(int status, std::string detail, http::Headers headers) {
  Reply r;
  r.status = status;
  r.content_type = std::string(kProblemJson);
  // The admin API's problems name no type of their own: about:blank.
  r.body = http::problem_json(http::Problem{status, "", std::move(detail), {}}, "");
  r.headers = std::move(headers);
  return r;
}

void Router::add(std::string method, std::string path, RouteHandler handler) {
  routes_.push_back({std::move(method), std::move(path), std::move(handler)});
}

asio::awaitable<Reply> Router::dispatch(const http::Request& req, http::BodySource& body) const {
  const std::string_view target = req.target;
  const auto path = target.substr(0, target.find('?'));
  const std::string_view method = req.method == "HEAD" ? std::string_view("GET") : std::string_view(req.method);
  std::string allow;
  for (const auto& route : routes_) {
    if (route.path != path) continue;
    if (route.method == method) co_return co_await route.handler(req, body);
    allow += (allow.empty() ? "" : ", ") + route.method + (route.method == "GET" ? ", HEAD" : "");
  }
  if (allow.empty()) co_return problem(404, "no admin endpoint at " + std::string(path));
  http::Headers headers;
  headers.add("Allow", allow);
  co_return problem(405, std::string(path) + " takes " + allow + ", not " + req.method, std::move(headers));
}

}  // namespace relay::admin
