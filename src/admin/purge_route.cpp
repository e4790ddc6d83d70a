#include "relay/admin/purge_route.hpp"

#include "relay/purge/order.hpp"
#include "relay/purge/purger.hpp"

namespace relay::admin {

namespace asio = boost::asio;

namespace {

// The whole request body, or nullopt past kMaxOrderSize or on a read failure.
asio::awaitable<std::optional<std::string>> read_order(http::BodySource& body) {
  std::string text;
  for (;;) {
    auto chunk = co_await body.read();
    if (!chunk) co_return std::nullopt;
    if (chunk->empty()) co_return text;
    if (text.size() + chunk->size() > kMaxOrderSize) co_return std::nullopt;
    text.append(chunk->data(), chunk->size());
  }
}

}  // namespace

RouteHandler purge_route(CurrentConfig current, purge::Purger& purger) {
  return [current = std::move(current), &purger](const http::Request&,
                                                 http::BodySource& body) -> asio::awaitable<Reply> {
    auto text = co_await read_order(body);
    if (!text) co_return problem(413, "a purge order is a JSON object of at most 64 KiB");
    const auto cfg = current();
    auto parsed = purge::parse_order(*text, *cfg);
    if (!parsed.ok) co_return problem(400, parsed.error);
    const auto& order = parsed.order;
    auto affected = co_await purger.purge(order.selector, order.mode);
    if (!affected)
      co_return problem(503, "the cache storage could not carry out the purge: " + affected.error().message());
    co_return json_reply(200, purge::answer_json(order.selector, order.mode, *affected));
  };
}

}  // namespace relay::admin
