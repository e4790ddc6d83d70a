// The admin API and the metrics listener (admin_server.hpp): AdminService
// checks the client against admin.allow and the bearer token, then routes;
// Endpoints builds the routes and owns the listeners and their lifetime.
#include "relay/admin/admin_server.hpp"

#include <boost/asio/post.hpp>
#include <cctype>
#include <optional>
#include <stdexcept>

#include "relay/admin/cidr.hpp"
#include "relay/admin/health.hpp"
#include "relay/admin/purge_route.hpp"
#include "relay/admin/router.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/server/listener.hpp"
#include "relay/util/json.hpp"
#include "relay/util/log.hpp"

namespace relay::admin {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kRealm = "Bearer realm=\"relay-admin\"";

bool same_token(std::string_view given, std::string_view want) {
  // No early exit on the first differing byte: the time does not tell how much matched.
  unsigned char diff = given.size() == want.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size() && i < want.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ want[i]);
  return diff == 0;
}

// The credentials of "Authorization: Bearer <token>" (the scheme is
// case-insensitive, RFC 9110 §11.1); nullopt for anything else.
std::optional<std::string_view> bearer(const http::Request& req) {
  auto value = req.headers.get("authorization");
  if (!value || value->size() < 7) return std::nullopt;
  constexpr std::string_view scheme = "bearer ";
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>((*value)[i])) != scheme[i]) return std::nullopt;
  auto token = value->substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

class AdminService final : public http::Service {
 public:
  // No allowlist and no token: an open listener (metrics on an address of their own).
  AdminService(Router router, std::optional<Allowlist> allow, std::string token)
      : router_(std::move(router)), allow_(std::move(allow)), token_(std::move(token)) {}

  asio::awaitable<void> serve(http::Request& req, http::BodySource& body, http::ResponseSink& out) override {
    std::optional<Reply> reply;
    try {
      reply = co_await answer(req, body);
    } catch (const boost::system::system_error&) {
      throw;  // cancelled (the listener is closing): nothing to answer
    } catch (const std::exception& e) {
      log::error("admin ", req.method, " ", req.target, ": ", e.what());
      reply = problem(500, "the admin endpoint failed; relay's log says why");
    }
    reply->headers.add("Cache-Control", "no-store");
    if (!req.request_id.empty()) reply->headers.add("X-Request-ID", req.request_id);
    co_await out.write_simple(reply->status, reply->content_type, reply->body, std::move(reply->headers));
  }

 private:
  asio::awaitable<Reply> answer(const http::Request& req, http::BodySource& body) {
    if (allow_ && !allow_->allows(req.client_address))
      co_return problem(403, "client " + req.client_address + " is not in admin.allow");
    if (!token_.empty()) {
      const auto given = bearer(req);
      if (!given || !same_token(*given, token_)) {
        http::Headers headers;
        headers.add("WWW-Authenticate", given ? std::string(kRealm) + ", error=\"invalid_token\"" : std::string(kRealm));
        co_return problem(401, given ? "the bearer token is not admin's token"
                                     : "send the admin token: Authorization: Bearer <token>",
                          std::move(headers));
      }
    }
    co_return co_await router_.dispatch(req, body);
  }

  Router router_;
  std::optional<Allowlist> allow_;
  std::string token_;
};

RouteHandler metrics_route(metrics::Metrics& metrics) {
  return [&metrics](const http::Request&, http::BodySource&) -> asio::awaitable<Reply> {
    Reply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics.render();
    co_return r;
  };
}

// POST /reload: the reload runs here, on the admin loop (reading and
// checking a file takes milliseconds); the workers pick the new
// configuration up from their own loops.
RouteHandler reload_route(Endpoints::ReloadFn reload) {
  return [reload = std::move(reload)](const http::Request& req, http::BodySource&) -> asio::awaitable<Reply> {
    const auto result = reload("POST /reload from " + req.client_address);
    using Kind = server::ReloadResult::Kind;
    switch (result.kind) {
      case Kind::Success:
        co_return json_reply(200, json::Object()
                                      .add("result", "success")
                                      .add("generation", static_cast<std::int64_t>(result.generation))
                                      .add("detail", result.message)
                                      .str());
      case Kind::Refused: co_return problem(409, result.message);
      case Kind::Failure: break;
    }
    co_return problem(422, result.message);
  };
}

std::string where_metrics(const config::Config& cfg) {
  using On = config::MetricsListen::On;
  const auto& m = cfg.metrics;
  if (!m.enabled) return "metrics off (metrics.enabled = false)";
  switch (m.listen.on) {
    case On::Public: return "metrics at " + m.path + " on the client listener " + cfg.server.listen.text;
    case On::Own: return "metrics at " + m.path + " on " + m.listen.address.text;
    case On::Admin: break;
  }
  if (!cfg.admin.listen.address)
    return "metrics off: metrics.listen = \"\" serves them on the admin listener, which is off (admin.listen = \"\")";
  return "metrics at " + m.path + " on the admin listener " + cfg.admin.listen.text;
}

}  // namespace

struct Endpoints::Impl {
  Impl(std::shared_ptr<const config::Config> c, metrics::Metrics& m, asio::io_context& h,
       std::vector<asio::io_context*> loops)
      : config(std::move(c)), cfg(*config), metrics(m), host(h), health(cfg, h, std::move(loops)) {}

  void add(std::string key, std::unique_ptr<http::Service> service) {
    auto listener = std::make_unique<server::Listener>(host, std::move(key), config, *service, metrics);
    listener->on_closed = [this] { check_closed(); };
    services.push_back(std::move(service));
    listeners.push_back(std::move(listener));
  }

  bool all_closed() const {
    for (const auto& l : listeners)
      if (!l->closed()) return false;
    return true;
  }

  void check_closed() {
    if (closing && all_closed() && on_closed) std::exchange(on_closed, {})();
  }

  // The configuration at start: every admin.* and metrics.* key is restart-only.
  std::shared_ptr<const config::Config> config;
  const config::Config& cfg;
  metrics::Metrics& metrics;
  asio::io_context& host;
  Health health;
  std::vector<std::unique_ptr<http::Service>> services;
  std::vector<std::unique_ptr<server::Listener>> listeners;  // admin first when on
  bool closing = false;
  std::function<void()> on_closed;
};

Endpoints::Endpoints(std::shared_ptr<const config::Config> config, metrics::Metrics& metrics, purge::Purger& purger,
                     CurrentConfig current, asio::io_context& host, std::vector<asio::io_context*> loops,
                     ReloadFn reload)
    : impl_(std::make_unique<Impl>(std::move(config), metrics, host, std::move(loops))) {
  using On = config::MetricsListen::On;
  const auto& cfg = impl_->cfg;
  auto& health = impl_->health;
  const bool metrics_on = cfg.metrics.enabled;
  if (cfg.admin.listen.address) {
    Router router;
    router.add("GET", "/healthz", [&health](const http::Request&, http::BodySource&) { return health.healthz(); });
    router.add("GET", "/readyz", [&health](const http::Request&, http::BodySource&) { return health.readyz(); });
    if (metrics_on && cfg.metrics.listen.on == On::Admin) router.add("GET", cfg.metrics.path, metrics_route(metrics));
    router.add("POST", "/purge", purge_route(std::move(current), purger));
    if (reload) router.add("POST", "/reload", reload_route(std::move(reload)));
    std::string token;
    try {
      token = admin_token(cfg.admin);  // checked at load; the file may have changed since
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("admin.token_file: " + std::string(e.what()));
    }
    impl_->add("admin.listen",
               std::make_unique<AdminService>(std::move(router), Allowlist(cfg.admin.allow), std::move(token)));
  }
  if (metrics_on && cfg.metrics.listen.on == On::Own) {
    Router router;
    router.add("GET", cfg.metrics.path, metrics_route(metrics));
    impl_->add("metrics.listen", std::make_unique<AdminService>(std::move(router), std::nullopt, ""));
  }
}

Endpoints::~Endpoints() = default;

void Endpoints::listen() {
  const auto& cfg = impl_->cfg;
  std::size_t i = 0;
  if (cfg.admin.listen.address) impl_->listeners[i++]->listen(*cfg.admin.listen.address);
  if (i < impl_->listeners.size()) impl_->listeners[i]->listen(cfg.metrics.listen.address);
}

void Endpoints::start() {
  const auto& cfg = impl_->cfg;
  for (auto& l : impl_->listeners) l->start();
  if (cfg.admin.listen.address) {
    std::string allow;
    for (const auto& block : cfg.admin.allow) allow += (allow.empty() ? "" : ", ") + block;
    log::info("admin API on ", cfg.admin.listen.text, " (",
              cfg.admin.token.empty() && cfg.admin.token_file.empty() ? "no token" : "bearer token required",
              "; allow ", allow.empty() ? "nobody" : allow, ")");
  } else {
    log::info("admin API off (admin.listen = \"\")");
  }
  log::info(where_metrics(cfg));
}

void Endpoints::close() {
  asio::post(impl_->host, [impl = impl_.get(), done = on_closed] {
    impl->closing = true;
    impl->on_closed = done;
    for (auto& l : impl->listeners) l->close();
    impl->check_closed();
  });
}

bool Endpoints::closed() const noexcept { return impl_->closing && impl_->all_closed(); }

void Endpoints::begin_drain() { impl_->health.begin_drain(); }

}  // namespace relay::admin
