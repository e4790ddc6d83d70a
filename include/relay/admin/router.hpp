// The admin API's routing: a table of {method, path, handler}. A GET route
// answers HEAD too. An unknown path is a 404 problem, a known path with
// another method a 405 problem naming the allowed ones in Allow. Handlers
// return a Reply (status, JSON body); errors are RFC 9457 problem details
// (application/problem+json: type, title, status, detail).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/http/body.hpp"
#include "relay/http/headers.hpp"
#include "relay/http/problem.hpp"
#include "relay/http/request.hpp"

namespace relay::admin {

inline constexpr std::string_view kJson = "application/json";
inline constexpr std::string_view kProblemJson = http::kProblemJsonType;

struct Reply {
  int status = 200;
  std::string content_type = std::string(kJson);
  std::string body;
  http::Headers headers;
};

// A JSON answer.
Reply json_reply(int status, std::string body);
// An RFC 9457 problem: type "about:blank", the status's reason phrase as the
// title, and `detail` saying what happened in this case.
Reply problem(int status, std::string detail, http::Headers headers = {});

// A route gets the request head and its body (unread; what a handler leaves
// is discarded, up to a limit, before the connection's next request).
using RouteHandler = std::function<boost::asio::awaitable<Reply>(const http::Request&, http::BodySource&)>;

class Router {
 public:
  void add(std::string method, std::string path, RouteHandler handler);
  // The path is the request-target before any '?'.
  boost::asio::awaitable<Reply> dispatch(const http::Request& req, http::BodySource& body) const;
  bool empty() const noexcept { return routes_.empty(); }

 private:
  struct Route {
    std::string method;
    std::string path;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace relay::admin
