// The address-like values (server.listen, upstream.url, storage.redis.url,
// log.access_log), parsed once at load into the typed values of config.hpp.
// The acceptance checks are the loader's long-standing ones; the parts are
// then read with Boost.URL (hosts, ports) so nothing downstream splits text.
#include <charconv>
#include <climits>
#include <stdexcept>
#include <string>

#include <boost/url/parse.hpp>
#include <boost/url/grammar/parse.hpp>
#include <boost/url/rfc/ipv4_address_rule.hpp>
#include <boost/url/rfc/ipv6_address_rule.hpp>

#include "checks.hpp"
#include "relay/config/config.hpp"

namespace relay::config {
namespace detail {
namespace {

bool valid_host_port(std::string_view s) {
  if (s.find_first_of(" \t\r\n/") != std::string_view::npos) return false;
  if (s.starts_with('[')) {
    const auto close = s.find("]:");
    return close != std::string_view::npos && close > 1 && valid_port(s.substr(close + 2));
  }
  // A second ':' means an unbracketed IPv6 address, where the port is ambiguous.
  const auto colon = s.rfind(':');
  return colon != std::string_view::npos && colon > 0 && s.find(':') == colon &&
         valid_port(s.substr(colon + 1));
}

bool valid_url(std::string_view u) {
  if (u.find_first_of(" \t\r\n") != std::string_view::npos) return false;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!u.starts_with(scheme)) continue;
    auto authority = u.substr(scheme.size());
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    if (authority.empty() || authority.front() == ':') return false;
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos || authority.substr(colon).find(']') != std::string_view::npos)
      return true;  // no port
    return valid_port(authority.substr(colon + 1));
  }
  return false;
}

// redis://[:password@]host[:port][/db]; host is a name, an IPv4 address or a
// bracketed IPv6 address, port 1..65535, db 0..2147483647 (a Redis int).
bool valid_redis_url(std::string_view u) {
  constexpr std::string_view kScheme = "redis://";
  if (!u.starts_with(kScheme) || u.find_first_of(" \t\r\n") != std::string_view::npos) return false;
  auto rest = u.substr(kScheme.size());
  // The last '@' ends the password, which may itself hold '@' or '/'.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    if (at < 2 || rest.front() != ':') return false;
    rest.remove_prefix(at + 1);
  }
  const auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    const auto db = rest.substr(slash + 1);
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), n);
    if (ec != std::errc{} || db.empty() || end != db.data() + db.size()) return false;
  }
  auto host = rest.substr(0, slash);
  std::string_view port;
  std::string_view allowed = "-._";
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    const auto after = host.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return false;
    port = after;
    host = host.substr(1, close - 1);
    allowed = ":.%";
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
  }
  if (!port.empty() && !valid_port(port.substr(1))) return false;
  return !host.empty() && std::all_of(host.begin(), host.end(), [&](unsigned char ch) {
    return std::isalnum(ch) || allowed.find(static_cast<char>(ch)) != std::string_view::npos;
  });
}

// The url as it may appear in a message: a password is replaced by "***".
std::string without_password(const std::string& url) {
  const auto at = url.rfind('@');
  const auto colon = url.find(':', std::string_view("redis://").size());
  if (!url.starts_with("redis://") || at == std::string::npos || colon == std::string::npos || colon > at)
    return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

bool is_ip_literal(std::string_view host) {
  if (boost::urls::grammar::parse(host, boost::urls::ipv4_address_rule)) return true;
  // make_address takes a scope on a link-local IPv6 address ("fe80::1%eth0").
  return static_cast<bool>(
      boost::urls::grammar::parse(host.substr(0, host.find('%')), boost::urls::ipv6_address_rule));
}

std::invalid_argument bad_listen(std::string_view text, std::string_view what) {
  return std::invalid_argument("expected " + std::string(what) + ", got \"" + std::string(text) + "\"");
}

}  // namespace
}  // namespace detail

ListenAddress ListenAddress::parse(std::string_view text) {
  if (!detail::valid_host_port(text))
    throw detail::bad_listen(text, "host:port or [v6]:port with port 1..65535");
  ListenAddress out;
  out.text = text;
  const auto colon = text.rfind(':');
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  // The listener binds an address, never a resolved name.
  if (!detail::is_ip_literal(host))
    throw detail::bad_listen(text, "an IP address, \"localhost\" or \"*\" before the port");
  out.address = std::move(host);
  out.port = static_cast<std::uint16_t>(std::stoi(std::string(text.substr(colon + 1))));
  return out;
}

UpstreamUrl UpstreamUrl::parse(std::string_view text) {
  const auto bad = [&] {
    return std::invalid_argument("expected http://host[:port][/path] or https://..., got \"" + std::string(text) +
                                 "\"");
  };
  if (!detail::valid_url(text)) throw bad();
  const auto url = boost::urls::parse_uri(text);
  if (!url || !url->has_authority()) throw bad();
  UpstreamUrl out;
  out.text = text;
  out.scheme = url->scheme();
  out.host = url->host_address();
  out.port = url->has_port() ? url->port_number() : (out.scheme == "https" ? 443 : 80);
  // base and prefix split the text as written, so the origin sees the
  // prefix exactly as the operator typed it.
  const auto authority_start = text.find("://") + 3;
  const auto path_start = std::min(text.find('/', authority_start), text.size());
  out.base = text.substr(0, path_start);
  out.authority = text.substr(authority_start, path_start - authority_start);
  out.prefix = text.substr(path_start);
  while (out.prefix.ends_with('/')) out.prefix.pop_back();
  return out;
}

RedisUrl RedisUrl::parse(std::string_view text) {
  const auto bad = [&] {
    return std::invalid_argument(
        "expected redis://[:password@]host[:port][/db] with port 1..65535 and db 0..2147483647, got \"" +
        detail::without_password(std::string(text)) + "\"");
  };
  if (!detail::valid_redis_url(text)) throw bad();
  RedisUrl out;
  out.text = text;
  auto rest = text.substr(std::string_view("redis://").size());
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    out.password = rest.substr(1, at - 1);
    rest.remove_prefix(at + 1);
  }
  const auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    const auto db = rest.substr(slash + 1);
    const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
    if (ec != std::errc{} || out.db < 0) throw bad();
  }
  auto host = rest.substr(0, slash);
  auto colon = host.find(':');
  if (host.starts_with('[')) {  // [IPv6]: the port's ':' follows the ']'
    const auto close = host.find(']');
    colon = close + 1 < host.size() ? close + 1 : std::string_view::npos;
    out.host = host.substr(1, close - 1);
  } else {
    out.host = host.substr(0, colon);
  }
  if (colon != std::string_view::npos) std::from_chars(host.data() + colon + 1, host.data() + host.size(), out.port);
  return out;
}

AccessLogTarget AccessLogTarget::parse(std::string_view text) {
  if (text == "stdout") return {To::Stdout, {}};
  if (text == "stderr") return {To::Stderr, {}};
  if (text == "off") return {To::Off, {}};
  return {To::File, std::string(text)};
}

std::string AccessLogTarget::text() const {
  switch (to) {
    case To::Stdout: return "stdout";
    case To::Stderr: return "stderr";
    case To::Off: return "off";
    case To::File: break;
  }
  return path;
}

}  // namespace relay::config
