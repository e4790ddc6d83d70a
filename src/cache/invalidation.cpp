// Invalidation by unsafe methods (RFC 9111 §4.4): which responses trigger it
// and which request-targets lose their stored responses. Location and
// Content-Location are only honoured on the request's own origin, so one
// site cannot evict another's entries through a shared cache.
#include "relay/cache/invalidation.hpp"
#include "relay/cache/key.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/url/authority_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>

namespace relay::cache {

namespace urls = boost::urls;

namespace {

// The origin (RFC 9110 §4.3.1) as compared here: host lower-cased and the
// port empty when it is the scheme's default, so "Host: a.example" and
// "http://A.example:80/" are the same origin.
struct Origin {
  std::string host;
  std::string port;
  bool operator==(const Origin&) const = default;
};


bool is_http_scheme(std::string_view scheme) noexcept {
  return http::iequals(scheme, "http") || http::iequals(scheme, "https");
}

// The origin of an absolute http(s) URL; nullopt for other schemes or no host.
std::optional<Origin> origin_of(const urls::url_view_base& u) {
  if (!is_http_scheme(u.scheme()) || !u.has_authority() || u.encoded_host().empty()) {
    return std::nullopt;
  }
  auto port = key_port(u.port(), http::to_lower(u.scheme()));
  if (!port) return std::nullopt;
  return Origin{http::to_lower(u.encoded_host()), *port};
}

// origin-form "/path?query" of a URL, with its encoding untouched. An empty
// path is "/" (RFC 9110 §4.2.3).
std::string origin_form(const urls::url_view_base& u) {
  std::string_view path = u.encoded_path();
  // Boost 1.81's resolve() keeps ".." segments that climb above the root
  // ("/../x"); RFC 3986 §5.2.4 drops them, and so do we.
  while (path.starts_with("/../")) path.remove_prefix(3);
  if (path == "/..") path = "/";
  std::string out = path.empty() ? std::string("/") : std::string(path);
  if (u.has_query()) {
    out += '?';
    out += u.encoded_query();
  }
  return out;
}

// The absolute URI the request addressed: its absolute-form target, whose
// authority overrides Host (RFC 9112 §3.2.2), or "http://" + Host + the
// origin-form target. nullopt when it cannot be built.
std::optional<urls::url> request_uri(const http::Request& request) {
  std::string_view target = request.target;
  if (target.starts_with("/")) {
    auto host = request.headers.get("Host");
    if (!host) return std::nullopt;
    auto trimmed = http::trim(*host);
    // Host = uri-host [ ":" port ] (RFC 9110 §7.2): checked on its own so a
    // value such as "a/b" cannot shift part of itself into the path.
    auto authority = urls::parse_authority(trimmed);
    if (!authority || authority->has_userinfo() || authority->encoded_host().empty()) {
      return std::nullopt;
    }
    // The view returned by parse_uri points into `text`, which must outlive it.
    const std::string text = "http://" + std::string(trimmed) + std::string(target);
    auto uri = urls::parse_uri(text);
    if (!uri) return std::nullopt;
    return urls::url(*uri);
  }
  auto uri = urls::parse_absolute_uri(target);
  if (!uri || !origin_of(*uri)) return std::nullopt;
  return urls::url(*uri);
}

}  // namespace

bool invalidates(std::string_view method, int status) {
  // RFC 9111 §4.4: only unsafe methods invalidate (RFC 9110 §9.2.1 lists the
  // safe ones; methods are case-sensitive, §9.1), and only when the origin
  // accepted the request: an error changes nothing.
  static constexpr std::array<std::string_view, 4> kSafe = {"GET", "HEAD", "OPTIONS", "TRACE"};
  if (std::find(kSafe.begin(), kSafe.end(), method) != kSafe.end()) return false;
  return status >= 200 && status <= 399;
}

std::vector<std::string> invalidation_targets(const http::Request& request,
                                              const http::Headers& response) {
  std::vector<std::string> targets;
  auto push = [&](std::string t) {
    if (std::find(targets.begin(), targets.end(), t) == targets.end()) {
      targets.push_back(std::move(t));
    }
  };

  std::string_view target = request.target;
  auto base = request_uri(request);
  if (target.starts_with("/")) {
    push(std::string(target));  // as received: the key builder normalizes it
  } else if (base) {
    push(origin_form(*base));
  } else {
    // authority-form, "*" or garbage: nothing cacheable was addressed.
    return targets;
  }
  if (!base) return targets;
  auto own = origin_of(*base);
  if (!own) return targets;

  // RFC 9111 §4.4: the URIs in Location and Content-Location, resolved
  // against the request URI (RFC 3986 §5.2), when they share its origin.
  for (const auto& f : response) {
    if (!http::iequals(f.name, "Location") && !http::iequals(f.name, "Content-Location")) {
      continue;
    }
    auto ref = urls::parse_uri_reference(http::trim(f.value));
    if (!ref) continue;
    urls::url resolved(*base);
    if (!resolved.resolve(*ref)) continue;
    auto origin = origin_of(resolved);
    if (!origin || *origin != *own) continue;
    push(origin_form(resolved));
  }
  return targets;
}

}  // namespace relay::cache
