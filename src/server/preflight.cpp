// preflight (see preflight.hpp). Each check asks the module that does the
// real thing at start (access_log.hpp, spool.hpp), so the two cannot
// disagree; only the listen checks are binds of their own, released at once.
// The TLS certificates are loaded into OpenSSL contexts as start-up would.
#include "relay/server/preflight.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "relay/proxy/access_log.hpp"
#include "relay/proxy/spool.hpp"
#include "relay/server/tls_contexts.hpp"

namespace relay::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

[[noreturn]] void fail(const config::LoadResult& loaded, std::string_view key, const std::string& problem) {
  const auto source = loaded.source_of(key);
  const std::string where = source.from == config::Source::From::Default ? "" : config::describe(source) + ": ";
  throw config::ConfigError(where + std::string(key) + ": " + problem);
}

// EADDRINUSE is no error here: a relay already serving this configuration
// holds the address while its replacement is checked.
std::string check_listen(const config::LoadResult& loaded, std::string_view key, const config::ListenAddress& listen) {
  asio::io_context io;
  tcp::acceptor probe(io);
  boost::system::error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address(listen.address, ec), listen.port);
  if (!ec) probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec == asio::error::address_in_use)
    return std::string(key) + ": " + listen.text + " is in use right now (by the relay this replaces?)";
  if (ec) fail(loaded, key, "cannot listen on " + listen.text + ": " + ec.message());
  return {};
}

}  // namespace

std::vector<std::string> preflight(const config::LoadResult& loaded) {
  const auto& cfg = loaded.config;
  std::vector<std::string> notes;
  if (auto problem = proxy::access_log_problem(cfg.log.access_log); !problem.empty())
    fail(loaded, "log.access_log", problem);
  if (auto spool = proxy::check_spool_dir(cfg.cache.coalesce.spool_dir); !spool.problem.empty())
    fail(loaded, "cache.coalesce.spool_dir", spool.problem);
  if (auto note = check_listen(loaded, "server.listen", cfg.server.listen); !note.empty()) notes.push_back(std::move(note));
  if (cfg.server.tls.enabled()) {
    const auto tls_listen = config::ListenAddress::parse(cfg.server.tls.listen);
    if (auto note = check_listen(loaded, "server.tls.listen", tls_listen); !note.empty()) notes.push_back(std::move(note));
    // Exactly what start-up and a reload build: OpenSSL must take every file.
    try {
      TlsContexts contexts(cfg.server.tls, nullptr);
    } catch (const std::runtime_error& e) {
      throw config::ConfigError(e.what());
    }
  }
  return notes;
}

}  // namespace relay::server
