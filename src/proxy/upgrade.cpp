// Protocol upgrades through relay (RFC 9110 §7.8; WebSocket, RFC 6455 §4).
// The handshake is the client's request as any other would be forwarded
// (normalised target, Host, X-Forwarded-*, the rule's stripped fields:
// upstream_request), with Connection: Upgrade and the chosen protocol put
// back. It goes to the origin on a connection of relay's own, outside
// curl's pool, since a 101 turns that connection into a tunnel:
//   101 naming the protocol -> 101 to the client, then run_tunnel
//   101 naming another      -> 502 (the client would be switched blind)
//   any other answer        -> forwarded as an uncached response; the
//                              client's connection stays HTTP
// Nothing here reads or writes the cache.
#include <algorithm>
#include <boost/asio/this_coro.hpp>

#include "relay/http/upgrade.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/proxy/pump.hpp"
#include "relay/proxy/tunnel.hpp"
#include "relay/upstream/raw_connection.hpp"
#include "relay/upstream/raw_exchange.hpp"
#include "relay/util/error_table.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;
using cache::CacheStatus;
using steady = std::chrono::steady_clock;

namespace {

// The request head as it goes on the wire (RFC 9112 §3).
std::string request_head(const upstream::UpstreamRequest& up) {
  std::string head;
  head.reserve(1024);
  head.append(up.method).append(" ").append(up.target).append(" HTTP/1.1\r\n");
  for (const auto& f : up.headers) head.append(f.name).append(": ").append(f.value).append("\r\n");
  head.append("\r\n");
  return head;
}

// Keeps the tunnel gauge right whichever way the tunnel ends.
class OpenTunnel {
 public:
  explicit OpenTunnel(metrics::Metrics& metrics) : metrics_(metrics) { metrics_.record_tunnel_open(true); }
  ~OpenTunnel() { metrics_.record_tunnel_open(false); }
  OpenTunnel(const OpenTunnel&) = delete;
  OpenTunnel& operator=(const OpenTunnel&) = delete;

 private:
  metrics::Metrics& metrics_;
};

}  // namespace

bool Handler::upgrade_allowed(const http::Request& req, std::string_view token) const {
  const auto& allowed = route_of(req).upgrades.value_or(cfg_.server.upgrades);
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return http::iequals(a, token); });
}

std::string Handler::tunnel_protocol(const http::Request& req) const {
  for (auto element : http::offered_upgrades(req))
    if (upgrade_allowed(req, http::upgrade_protocol_name(element))) return std::string(element);
  return {};
}

asio::awaitable<Handler::Outcome> Handler::serve_upgrade(const http::Request& req, std::string protocol,
                                                        http::ResponseSink& out) {
  Outcome outcome;
  outcome.info.status = CacheStatus::Bypass;
  outcome.info.fwd = "bypass";
  const auto started_at = steady::now();
  const auto upstream_time = [&] { return std::chrono::duration<double>(steady::now() - started_at).count(); };
  auto fail = [&](const error_code& error, std::string_view detail) -> asio::awaitable<Outcome> {
    outcome.upstream_seconds = upstream_time();
    // respond_upstream_error logs the error's kind; the words of the
    // resolver, socket or TLS layer are only known here.
    if (!detail.empty()) log::warn("upgrade to ", protocol, " for ", req.target, ": ", detail);
    const auto* row = error_info(error);
    co_await respond_upstream_error(req, error, row && row->status ? row->status : 502, outcome.info, &out);
    co_return outcome;
  };

  auto up = upstream_request(req, nullptr, FetchPlan{nullptr, nullptr, std::nullopt, "bypass"});
  // Hop-by-hop, so removed above; they are this hop's request too.
  up.headers.set("Connection", "Upgrade");
  up.headers.set("Upgrade", protocol);
  std::string hash_key;
  hash_key.append(req.headers.get("host").value_or("")).append(req.target);
  const auto* member = upstreams_.address_raw(req.route, hash_key, up);
  if (!member) co_return co_await fail(make_error_code(Errc::upstream_connect_failed), "no member to connect to");
  auto connected = co_await upstream::raw_connect(member->url, member->connect_timeout, member->tls);
  if (!connected.stream) co_return co_await fail(connected.error, connected.detail);
  upstream::RawExchange exchange(std::move(connected.stream), *member);
  if (auto sent = co_await exchange.send(request_head(up)); !sent) co_return co_await fail(sent.error(), {});
  auto answered = co_await exchange.read_head(req.method);
  if (!answered) co_return co_await fail(answered.error(), {});
  outcome.upstream_seconds = upstream_time();
  auto head = std::move(*answered);
  outcome.info.fwd_status = head.status;

  if (head.status != 101) {
    // Refused (403, 426, ...) or answered as a plain request: forwarded as
    // it is, never stored.
    if (!exchange.body_readable()) co_return co_await fail(make_error_code(Errc::upstream_transfer_coding), {});
    prepare_head(head, std::chrono::system_clock::now());
    strip_for_client(head.headers);
    add_response_fields(head.headers, req, outcome.info);
    if (!co_await out.write_head(std::move(head), exchange.body_length())) co_return outcome;
    co_await pump(exchange, PumpTargets{&out});  // finishes the response, or aborts it
    co_return outcome;
  }
  // RFC 9110 §15.2.2: a 101 names the protocol switched to; it must be the one asked for.
  auto switched_to = head.headers.get_combined("upgrade");
  if (!switched_to || !http::iequals(http::trim(*switched_to), protocol)) {
    co_return co_await fail(make_error_code(Errc::upstream_protocol),
                            "the origin's 101 names another protocol than the one requested");
  }
  http::strip_hop_by_hop(head.headers);
  head.headers.set("Upgrade", protocol);
  add_response_fields(head.headers, req, outcome.info);
  head.headers.remove("x-cache");
  head.headers.remove("cache-status");
  auto client = co_await out.switch_protocols(std::move(head));
  if (!client) co_return outcome;  // the client left

  // Bytes the origin sent right behind its 101 go first.
  if (auto early = exchange.take_buffered(); !early.empty()) {
    if (!co_await (*client)->write_all(std::span<const char>(early.data(), early.size()))) co_return outcome;
    shared_.metrics.record_tunnel_bytes(false, early.size());
  }
  OpenTunnel open(shared_.metrics);
  log::debug("tunnel to the origin open for ", req.target, " (", protocol, ")");
  auto end = co_await run_tunnel(**client, exchange.stream(), cfg_.server.tunnel_idle_timeout,
                                 [this](bool to_origin, std::size_t bytes) {
                                   shared_.metrics.record_tunnel_bytes(to_origin, bytes);
                                 });
  log::debug("tunnel closed for ", req.target, " (", end.reason, "): ", end.client_to_origin, " bytes to the origin, ",
             end.origin_to_client, " to the client");
  if (end.reason == "idle") log::info("tunnel for ", req.target, " closed after server.tunnel_idle_timeout idle");
  co_return outcome;
}

}  // namespace relay::proxy
