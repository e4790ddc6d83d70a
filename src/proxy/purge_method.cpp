// The PURGE method on the client listener, for operators used to Varnish:
// `curl -X PURGE http://relay/path` purges that URL (every variant) as the
// same request would have been keyed. Only clients in [purge] allow may;
// with the list empty the method is nobody's and goes to the origin like
// any other. "Fastly-Soft-Purge: 1" asks for a soft purge.
#include "relay/admin/cidr.hpp"
#include "relay/http/problem.hpp"
#include "relay/proxy/handler.hpp"
#include "relay/purge/purger.hpp"
#include "relay/purge/selector.hpp"
#include "relay/util/log.hpp"

namespace relay::proxy {

namespace asio = boost::asio;

asio::awaitable<Handler::Outcome> Handler::serve_purge(const http::Request& req, const cache::Target& target,
                                                       http::ResponseSink& out) {
  Outcome own;
  own.cache_traffic = false;
  // The list was checked at load: an entry that does not parse never gets here.
  if (!admin::Allowlist(cfg_.purge.allow).allows(req.client_address)) {
    log::info("refusing PURGE ", req.target, " from ", req.client_address, ": not in purge.allow");
    co_await http::respond_problem(out, req, 403, "purge-forbidden",
                                   "PURGE is not allowed from " + req.client_address);
  } else {
    const auto selector = purge::url_selector(target, cfg_);
    const auto soft = req.headers.get("fastly-soft-purge");
    const auto mode = soft && http::trim(*soft) == "1" ? storage::PurgeMode::soft : storage::PurgeMode::hard;
    auto affected = co_await shared_.purger->purge(selector, mode);
    if (affected) {
      co_await out.write_simple(200, "application/json", purge::answer_json(selector, mode, *affected) + "\n");
    } else {
      std::string detail = "purge failed: ";
      detail.append(affected.error().message());
      co_await http::respond_problem(out, req, 503, "purge-failed", std::move(detail));
    }
  }
  // An unread body cannot be skipped safely: the connection ends with this answer.
  if (req.has_body) out.abort();
  co_return own;
}

}  // namespace relay::proxy
