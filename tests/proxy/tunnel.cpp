// The tunnel pump (proxy/tunnel.hpp) between two real socket pairs: bytes
// both ways byte-exact with half-closes passed on in order, the idle
// timeout, and one side's failure ending both.
#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>

#include "relay/proxy/tunnel.hpp"
#include "support.hpp"

namespace asio = boost::asio;
using namespace relay;
using Socket = asio::local::stream_protocol::socket;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// One end of the tunnel over a UNIX socket, the shape ClientStream has over TCP.
class SocketStream final : public http::ByteStream {
 public:
  explicit SocketStream(Socket& socket) : socket_(socket) {}
  asio::awaitable<Result<std::size_t>> read_some(std::span<char> into) override {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(into.data(), into.size()), use_tuple);
    if (ec == asio::error::eof) co_return std::size_t{0};
    if (ec) co_return make_error_code(Errc::client_closed);
    co_return n;
  }
  asio::awaitable<Result<void>> write_all(std::span<const char> bytes) override {
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), use_tuple);
    if (ec) co_return make_error_code(Errc::client_closed);
    co_return Result<void>{};
  }
  asio::awaitable<void> shutdown_send() override {
    boost::system::error_code ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
    co_return;
  }
  void close() noexcept override {
    boost::system::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
  }

 private:
  Socket& socket_;
};

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i % 251));
  return s;
}

asio::awaitable<std::string> read_to_eof(Socket& socket) {
  std::string got;
  char buf[8192];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
    got.append(buf, n);
    if (ec) co_return got;
  }
}

struct Pairs {
  explicit Pairs(asio::io_context& io) : client_far(io), client_near(io), origin_near(io), origin_far(io) {
    asio::local::connect_pair(client_far, client_near);
    asio::local::connect_pair(origin_near, origin_far);
  }
  Socket client_far, client_near, origin_near, origin_far;
};

}  // namespace

TEST_CASE("tunnel: bytes pass both ways byte-exact and a half-close reaches the other side first") {
  asio::io_context io;
  Pairs p(io);
  const auto request = pattern(300 * 1024, 'a');
  const auto response = pattern(500 * 1024, 'k');
  std::string origin_got, client_got;
  // The origin answers only once the client has finished sending: the
  // client's half-close must come through while the other way stays open.
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    origin_got = co_await read_to_eof(p.origin_far);
    co_await asio::async_write(p.origin_far, asio::buffer(response), use_tuple);
    p.origin_far.shutdown(Socket::shutdown_send);
  }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await asio::async_write(p.client_far, asio::buffer(request), use_tuple);
    p.client_far.shutdown(Socket::shutdown_send);
    client_got = co_await read_to_eof(p.client_far);
  }, asio::detached);

  SocketStream client(p.client_near), origin(p.origin_near);
  std::uint64_t counted_up = 0, counted_down = 0;
  auto end = test::run(io, proxy::run_tunnel(client, origin, std::chrono::seconds(10), [&](bool up, std::size_t n) {
    (up ? counted_up : counted_down) += n;
  }));
  CHECK(end.reason == "closed");
  CHECK(origin_got == request);
  CHECK(client_got == response);
  CHECK(end.client_to_origin == request.size());
  CHECK(end.origin_to_client == response.size());
  CHECK(counted_up == request.size());
  CHECK(counted_down == response.size());
}

TEST_CASE("tunnel: no byte either way for idle_timeout closes both sides") {
  asio::io_context io;
  Pairs p(io);
  std::string client_saw = "unset", origin_saw = "unset";
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { client_saw = co_await read_to_eof(p.client_far); },
                 asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { origin_saw = co_await read_to_eof(p.origin_far); },
                 asio::detached);
  SocketStream client(p.client_near), origin(p.origin_near);
  auto began = std::chrono::steady_clock::now();
  auto end = test::run(io, proxy::run_tunnel(client, origin, std::chrono::milliseconds(150)));
  auto took = std::chrono::steady_clock::now() - began;
  CHECK(end.reason == "idle");
  CHECK(took >= std::chrono::milliseconds(150));
  CHECK(took < std::chrono::seconds(3));
  CHECK(client_saw.empty());  // EOF, nothing else
  CHECK(origin_saw.empty());
}

TEST_CASE("tunnel: a client that disappears ends the origin side too") {
  asio::io_context io;
  Pairs p(io);
  std::string origin_saw = "unset";
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    // The client goes away at once, without reading what the origin sends.
    p.client_far.close();
    co_return;
  }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    const auto flood = pattern(256 * 1024, 'z');
    co_await asio::async_write(p.origin_far, asio::buffer(flood), use_tuple);
    origin_saw = co_await read_to_eof(p.origin_far);
  }, asio::detached);
  SocketStream client(p.client_near), origin(p.origin_near);
  auto end = test::run(io, proxy::run_tunnel(client, origin, std::chrono::seconds(10)));
  CHECK(end.reason == "client_error");
  CHECK(origin_saw.empty());  // its connection ended (EOF) instead of hanging
}
