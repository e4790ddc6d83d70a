// Protocol upgrades, the pure parts: which protocols a request offers
// (RFC 9110 §7.8), and reading an origin's answer off a raw connection:
// the response head (RFC 9112 §4-5), its body framing (§6.3) and chunked
// decoding (§7.1), fed whole and byte by byte.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "relay/http/upgrade.hpp"
#include "relay/upstream/response_head.hpp"

using relay::http::Request;
using relay::upstream::BodyFraming;
using relay::upstream::ChunkedDecoder;

namespace {

Request upgrade_request(std::string connection, std::string upgrade) {
  Request req;
  req.method = "GET";
  req.target = "/chat";
  req.headers.add("Host", "example.com");
  if (!connection.empty()) req.headers.add("Connection", connection);
  if (!upgrade.empty()) req.headers.add("Upgrade", upgrade);
  return req;
}

std::vector<std::string> offered(const Request& req) {
  std::vector<std::string> out;
  for (auto p : relay::http::offered_upgrades(req)) out.emplace_back(p);
  return out;
}

// Decodes `wire` fed in pieces of `step` bytes; nullopt on a framing error.
std::optional<std::string> decode_chunked(const std::string& wire, std::size_t step, std::size_t* consumed = nullptr) {
  ChunkedDecoder decoder;
  std::string body;
  std::size_t used = 0;
  for (std::size_t at = 0; at < wire.size() && !decoder.done(); at += step) {
    auto piece = std::string_view(wire).substr(at, step);
    auto n = decoder.feed(piece, body);
    if (!n) return std::nullopt;
    used += *n;
  }
  if (!decoder.done()) return std::nullopt;
  if (consumed) *consumed = used;
  return body;
}

}  // namespace

TEST_CASE("upgrade: offered protocols need HTTP/1.1 GET, Connection: upgrade and no body (RFC 9110 7.8)") {
  CHECK(offered(upgrade_request("Upgrade", "websocket")) == std::vector<std::string>{"websocket"});
  CHECK(offered(upgrade_request("keep-alive, UPGRADE", "h2c, websocket")) ==
        std::vector<std::string>{"h2c", "websocket"});
  CHECK(offered(upgrade_request("keep-alive", "websocket")).empty());  // Connection must list it
  CHECK(offered(upgrade_request("Upgrade", "")).empty());

  auto post = upgrade_request("Upgrade", "websocket");
  post.method = "POST";
  CHECK(offered(post).empty());
  auto with_body = upgrade_request("Upgrade", "websocket");
  with_body.has_body = true;
  CHECK(offered(with_body).empty());
  auto http10 = upgrade_request("Upgrade", "websocket");
  http10.version_minor = 0;
  CHECK(offered(http10).empty());

  CHECK(relay::http::upgrade_protocol_name("websocket") == "websocket");
  CHECK(relay::http::upgrade_protocol_name("foo/2") == "foo");
  CHECK(relay::http::upgrade_protocol_name(" bar ") == "bar");
}

TEST_CASE("raw response: head end and head parsing (RFC 9112 4, 5)") {
  std::string wire = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFRAME";
  auto end = relay::upstream::find_head_end(wire);
  REQUIRE(end == wire.size() - 5);
  CHECK(relay::upstream::find_head_end("HTTP/1.1 200 OK\r\nA: b\r\n") == std::string::npos);

  auto head = relay::upstream::parse_response_head(std::string_view(wire).substr(0, end));
  REQUIRE(head);
  CHECK(head->status == 101);
  CHECK(head->reason == "Switching Protocols");
  CHECK(head->headers.get("upgrade") == "websocket");
  CHECK(head->headers.get("connection") == "Upgrade");

  auto no_reason = relay::upstream::parse_response_head("HTTP/1.1 204\r\n\r\n");
  REQUIRE(no_reason);
  CHECK(no_reason->status == 204);
  CHECK(no_reason->reason.empty());

  for (const char* bad : {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
                          "ICY 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                          "HTTP/1.1 200 OK\r\n: empty\r\n\r\n"}) {
    CAPTURE(bad);
    CHECK_FALSE(relay::upstream::parse_response_head(bad));
  }
}

TEST_CASE("raw response: body framing (RFC 9112 6.3)") {
  auto framing = [](int status, std::vector<std::pair<std::string, std::string>> fields,
                    std::string_view method = "GET") {
    relay::http::ResponseHead head{status, "", {}};
    for (auto& [n, v] : fields) head.headers.add(n, v);
    return relay::upstream::body_framing(head, method);
  };
  CHECK(framing(204, {{"Content-Length", "5"}}).kind == BodyFraming::None);
  CHECK(framing(304, {}).kind == BodyFraming::None);
  CHECK(framing(200, {{"Content-Length", "5"}}, "HEAD").kind == BodyFraming::None);
  auto length = framing(403, {{"Content-Length", "12"}});
  CHECK(length.kind == BodyFraming::Length);
  CHECK(length.length == 12);
  CHECK(framing(403, {{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}).kind == BodyFraming::Chunked);
  CHECK(framing(403, {{"Transfer-Encoding", "gzip, chunked"}}).kind == BodyFraming::Unsupported);
  CHECK(framing(403, {{"Transfer-Encoding", "gzip"}}).kind == BodyFraming::Unsupported);
  CHECK(framing(403, {{"Content-Length", "1x"}}).kind == BodyFraming::Unsupported);
  CHECK(framing(200, {}).kind == BodyFraming::UntilClose);
}

TEST_CASE("raw response: chunked decoding, whole and byte by byte (RFC 9112 7.1)") {
  const std::string wire = "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (std::size_t step : {wire.size(), std::size_t{1}, std::size_t{3}, std::size_t{7}}) {
    CAPTURE(step);
    std::size_t consumed = 0;
    auto body = decode_chunked(wire, step, &consumed);
    REQUIRE(body);
    CHECK(*body == "hello 0123456789");
    CHECK(consumed == wire.size() - 4);  // the bytes after the body are not taken
  }
  CHECK(decode_chunked("0\r\n\r\n", 1) == std::string());
  for (const char* bad : {"x\r\nabc\r\n0\r\n\r\n", "3\r\nabcX\r\n0\r\n\r\n", "\r\n", "3\nabc\r\n0\r\n\r\n",
                          "10000000000000000\r\n"}) {
    CAPTURE(bad);
    CHECK_FALSE(decode_chunked(bad, 1));
  }
}
