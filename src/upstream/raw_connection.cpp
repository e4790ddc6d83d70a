// raw_connect and the two ByteStreams it returns (plain and TLS). One
// timer bounds resolving, connecting and the TLS handshake together: when
// it fires it closes the socket, which ends whichever step is pending.
#include "relay/upstream/raw_connection.hpp"

#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>

namespace relay::upstream {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Reads and writes over any Asio stream (a socket or a TLS stream on one).
template <class Stream>
class AsioByteStream final : public http::ByteStream {
 public:
  template <class... Args>
  explicit AsioByteStream(Args&&... args) : stream_(std::forward<Args>(args)...) {}

  asio::awaitable<Result<std::size_t>> read_some(std::span<char> into) override {
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(into.data(), into.size()), use_tuple);
    // A TLS peer that closes without close_notify is still an end of stream
    // for a tunnel: the bytes before it were authenticated.
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated) co_return std::size_t{0};
    if (ec) co_return make_error_code(Errc::upstream_reset);
    co_return n;
  }

  asio::awaitable<Result<void>> write_all(std::span<const char> bytes) override {
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()), use_tuple);
    if (ec) co_return make_error_code(Errc::upstream_reset);
    co_return Result<void>{};
  }

  asio::awaitable<void> shutdown_send() override {
    // TCP's half-close only, for TLS too: async_shutdown would wait for the
    // peer's close_notify while the other direction still reads this stream
    // (two reads at once on one TLS stream are not allowed). The origin sees
    // an end of stream without close_notify, as after any WebSocket close.
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_send, ignored);
    co_return;
  }

  void close() noexcept override {
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }

  Stream& stream() noexcept { return stream_; }

 private:
  Stream stream_;
};

using PlainStream = AsioByteStream<tcp::socket>;
using TlsStream = AsioByteStream<ssl::stream<tcp::socket>>;

// One client context per thread and TLS setting ([upstream.tls] or a
// pool's tls table): loading a CA store is not free, and the settings are
// few and fixed. Throws boost::system::system_error on a file it cannot use.
ssl::context& tls_context(const config::UpstreamTls& tls) {
  thread_local std::map<std::string, std::unique_ptr<ssl::context>> contexts;
  std::string id;
  for (const auto* part : {&tls.ca_file, &tls.ca_path, &tls.client_cert, &tls.client_key})
    id.append(*part).push_back('\0');
  id.push_back(tls.verify ? 'v' : '-');
  id.push_back(tls.min_version == config::TlsVersion::V1_3 ? '3' : '2');
  auto& slot = contexts[id];
  if (slot) return *slot;
  auto c = std::make_unique<ssl::context>(ssl::context::tls_client);
  if (tls.ca_file.empty() && tls.ca_path.empty()) c->set_default_verify_paths();
  if (!tls.ca_file.empty()) c->load_verify_file(tls.ca_file);
  if (!tls.ca_path.empty()) c->add_verify_path(tls.ca_path);
  c->set_verify_mode(tls.verify ? ssl::verify_peer : ssl::verify_none);
  c->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                 ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(c->native_handle(),
                                tls.min_version == config::TlsVersion::V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (!tls.client_cert.empty()) {
    c->use_certificate_chain_file(tls.client_cert);
    c->use_private_key_file(tls.client_key.empty() ? tls.client_cert : tls.client_key, ssl::context::pem);
  }
  slot = std::move(c);
  return *slot;
}

std::string words(std::string_view what, std::string_view whom, const boost::system::error_code& ec) {
  std::string out(what);
  out.append(whom).append(": ").append(ec.message());
  return out;
}

// Closes the connection under way when the connect deadline passes, unless
// disarmed first. The handler may already be queued when disarm() runs, so
// it checks a state of its own rather than the error code alone.
class ConnectDeadline {
 public:
  ConnectDeadline(const asio::any_io_executor& executor, config::Duration timeout)
      : timer_(executor, timeout) {}
  ~ConnectDeadline() { disarm(); }

  template <class Close>
  void watch(Close close) {
    disarm();
    state_ = std::make_shared<State>();
    timer_.async_wait([state = state_, close](const boost::system::error_code& ec) {
      if (ec || !state->armed) return;
      state->fired = true;
      close();
    });
  }
  void disarm() {
    if (!state_) return;
    fired_ = fired_ || state_->fired;
    state_->armed = false;
    timer_.cancel();
  }
  bool fired() const noexcept { return fired_ || (state_ && state_->fired); }

 private:
  struct State {
    bool armed = true;
    bool fired = false;
  };
  asio::steady_timer timer_;  // expiry fixed at construction: one budget for every step
  std::shared_ptr<State> state_;
  bool fired_ = false;
};

}  // namespace

asio::awaitable<RawConnectResult> raw_connect(const config::UpstreamUrl& url, config::Duration connect_timeout,
                                              const config::UpstreamTls& settings) {
  auto executor = co_await asio::this_coro::executor;
  RawConnectResult result;
  tcp::socket socket(executor);
  ConnectDeadline deadline(executor, connect_timeout);
  deadline.watch([&socket] {
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  const auto fail = [&](std::string detail) {
    deadline.disarm();
    result.error = make_error_code(deadline.fired() ? Errc::upstream_timeout : Errc::upstream_connect_failed);
    result.detail = deadline.fired() ? std::string("not connected within upstream.connect_timeout") : std::move(detail);
    return std::move(result);
  };

  tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(url.host, std::to_string(url.port), use_tuple);
  if (resolve_ec) co_return fail(words("cannot resolve ", url.host, resolve_ec));
  if (deadline.fired()) co_return fail({});
  auto [connect_ec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
  if (connect_ec) co_return fail(words("cannot connect to ", url.authority, connect_ec));
  socket.set_option(tcp::no_delay(true), connect_ec);

  if (url.scheme != "https") {
    deadline.disarm();
    result.stream = std::make_unique<PlainStream>(std::move(socket));
    co_return result;
  }
  ssl::context* context = nullptr;
  try {
    context = &tls_context(settings);
  } catch (const boost::system::system_error& e) {
    co_return fail(std::string("TLS settings unusable: ").append(e.what()));
  }
  auto tls = std::make_unique<TlsStream>(std::move(socket), *context);
  auto& stream = tls->stream();
  deadline.watch([&stream] {
    boost::system::error_code ignored;
    stream.lowest_layer().close(ignored);
  });
  // SNI, and the name the certificate must carry (RFC 6125).
  const std::string& name = settings.sni.empty() ? url.host : settings.sni;
  SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
  if (settings.verify) stream.set_verify_callback(ssl::host_name_verification(name));
  auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
  if (handshake_ec) co_return fail(words("TLS handshake with ", url.authority, handshake_ec));
  deadline.disarm();
  result.stream = std::move(tls);
  co_return result;
}

}  // namespace relay::upstream
