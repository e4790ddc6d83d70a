// Client request parsing as a connection sees it: the bytes arrive over a
// socket in pieces split where the input says, RequestParser (llhttp plus
// relay's limits, method, framing and Expect handling) reads heads and
// bodies, pipelined requests included, and each head it accepts goes
// through what the request path does next with the same request: target
// normalisation with Host, the cache key, the request's Cache-Control and
// Range. Input: byte 0 picks the piece size (1-256 bytes), the rest is the
// byte stream.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "relay/cache/facts.hpp"
#include "relay/cache/key.hpp"
#include "relay/cache/range.hpp"
#include "relay/cache/target.hpp"
#include "relay/config/config.hpp"
#include "relay/server/client_socket.hpp"
#include "relay/server/request_parser.hpp"

namespace asio = boost::asio;
using relay::server::HeadOutcome;

namespace {

// What the request path does with a parsed head before any storage or origin.
void follow_request(const relay::http::Request& req) {
  static const relay::config::CacheKeyConfig key_cfg{};
  auto target = relay::cache::normalize_target(req.target, req.headers);
  if (target.ok) {
    auto key = relay::cache::make_key(target.target, req.headers, key_cfg);
    (void)relay::cache::forwarded_target(target.target, key_cfg);
    (void)key;
  }
  auto facts = relay::cache::request_facts(req.method, req.headers);
  (void)facts;
  relay::http::Headers stored;
  stored.add("ETag", "\"v1\"");
  stored.add("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT");
  (void)relay::cache::evaluate_range(req.headers, stored, 1000);
}

asio::awaitable<void> read_all(relay::server::RequestParser& parser) {
  for (int requests = 0; requests < 64; ++requests) {
    relay::http::Request req;
    auto outcome = co_await parser.read_head(req);
    if (outcome != HeadOutcome::Ok) co_return;
    follow_request(req);
    for (;;) {
      auto chunk = co_await parser.read_body();
      if (!chunk || chunk->empty()) break;
    }
    if (!parser.message_complete()) co_return;
  }
}

// Writes the stream in pieces, yielding to the parser between them, then
// half-closes: the parser sees exactly these reads, then the end.
asio::awaitable<void> send_pieces(asio::ip::tcp::socket& peer, std::string_view bytes, std::size_t piece) {
  while (!bytes.empty()) {
    auto n = std::min(piece, bytes.size());
    boost::system::error_code ec;
    asio::write(peer, asio::buffer(bytes.data(), n), ec);
    if (ec) co_return;
    bytes.remove_prefix(n);
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  }
  peer.shutdown(asio::ip::tcp::socket::shutdown_send);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 128 * 1024) return 0;  // a socket buffer's worth: writes never block
  const std::size_t piece = std::size_t{data[0]} + 1;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  asio::io_context io;
  // Asio's TCP socket reads and writes any stream socket's descriptor.
  asio::ip::tcp::socket server(io), peer(io);
  server.assign(asio::ip::tcp::v4(), fds[0]);
  peer.assign(asio::ip::tcp::v4(), fds[1]);
  {
    relay::server::ClientSocket client(std::move(server));
    relay::server::RequestParser parser(client, relay::server::ParserLimits{4096, 2048});
    asio::co_spawn(io, read_all(parser), asio::detached);
    asio::co_spawn(io, send_pieces(peer, stream, piece), asio::detached);
    io.run();
  }
  return 0;
}
