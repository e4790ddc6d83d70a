// Cache-key construction: the only place that decides which requests share a
// stored response. Equivalent URLs (RFC 3986 §6.2.2, RFC 9110 §4.2.3) must
// map to one key, and anything that can change the response (configured
// request headers) must be part of it.
#include "relay/cache/key.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <boost/url/authority_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace relay::cache {

namespace urls = boost::urls;

namespace {

KeyResult fail(std::string message) {
  KeyResult r;
  r.error = std::move(message);
  return r;
}

constexpr bool is_unreserved(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr char upper(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

// RFC 3986 §6.2.2.1-2: decode triplets of unreserved characters and
// upper-case the hex of the rest. Done here rather than with
// url::normalize(), which in Boost 1.81 also decodes reserved characters in
// the query (%26 -> '&'), changing the meaning of the URL.
std::string normalize_percent(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
        hex_value(s[i + 2]) >= 0) {
      char decoded = static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      if (is_unreserved(decoded)) {
        out += decoded;
      } else {
        out += '%';
        out += upper(s[i + 1]);
        out += upper(s[i + 2]);
      }
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// RFC 3986 §5.2.4 remove_dot_segments for an absolute path. Boost 1.81's
// normalize_path() keeps leading "/../" segments, so it is not used.
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  auto drop_last_segment = [&] {
    auto slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../")) {
      in.remove_prefix(3);
      drop_last_segment();
    } else if (in == "/..") {
      in = "/";
      drop_last_segment();
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      auto next = in.find('/', 1);
      if (next == std::string_view::npos) next = in.size();
      out += in.substr(0, next);
      in.remove_prefix(next);
    }
  }
  return out;
}

// Lower-cases a host (RFC 3986 §6.2.2.1) while keeping the hex digits of
// percent-encoded triplets upper-case.
std::string lower_host(std::string_view host) {
  std::string out = normalize_percent(host);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '%') {
      i += 2;
      continue;
    }
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  }
  return out;
}


// Header values are free text: escape the separators so that two different
// header combinations can never produce the same key.
void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '%') {
      out += "%25";
    } else if (c == '|') {
      out += "%7C";
    } else {
      out += c;
    }
  }
}

struct QueryParam {
  std::string key;
  bool has_value;
  std::string value;
};

bool ignored(std::string_view decoded_name, const config::CacheKeyConfig& cfg) {
  return std::any_of(cfg.ignore_params.begin(), cfg.ignore_params.end(),
                     [&](const std::string& p) { return glob_match(p, decoded_name); });
}

std::string key_query(urls::url_view u, const config::CacheKeyConfig& cfg) {
  std::vector<QueryParam> params;
  for (auto p : u.encoded_params()) {
    // "a=1&&b=2" has an empty element that carries nothing.
    if (p.key.empty() && !p.has_value) continue;
    // Patterns match the decoded name so "utm%5Fsource" cannot dodge "utm_*".
    if (ignored(p.key.decode(), cfg)) continue;
    params.push_back(QueryParam{normalize_percent(p.key), p.has_value,
                                normalize_percent(p.value)});
  }
  if (cfg.sort_query) {
    // has_value takes part so "a" (no value) and "a=" stay distinct and
    // always sort the same way.
    std::sort(params.begin(), params.end(), [](const QueryParam& a, const QueryParam& b) {
      return std::tie(a.key, a.has_value, a.value) < std::tie(b.key, b.has_value, b.value);
    });
  }
  std::string out;
  for (const auto& p : params) {
    out += out.empty() ? '?' : '&';
    out += p.key;
    if (p.has_value) {
      out += '=';
      out += p.value;
    }
  }
  return out;
}

// Configured header values, each line trimmed before joining so that
// whitespace differences between clients do not split the cache.
std::string header_value(const http::Headers& headers, std::string_view name) {
  std::string out;
  bool first = true;
  for (const auto& f : headers) {
    if (!http::iequals(f.name, name)) continue;
    if (!first) out += ", ";
    first = false;
    append_escaped(out, http::trim(f.value));
  }
  return out;
}

}  // namespace

std::optional<std::string> key_port(std::string_view port, std::string_view scheme) {
  if (port.empty()) return std::string();
  unsigned long n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned long>(c - '0');
    if (n > 65535) return std::nullopt;
  }
  if ((scheme == "http" && n == 80) || (scheme == "https" && n == 443)) return std::string();
  return std::to_string(n);
}

KeyResult make_key(const http::Request& req, const config::CacheKeyConfig& cfg,
                   std::string_view scheme) {
  // A fragment is never part of a request-target (RFC 9110 §4.2.1); drop
  // one sent by a sloppy client rather than refusing to cache.
  std::string_view target = req.target;
  target = target.substr(0, target.find('#'));
  if (target.empty()) return fail("empty request-target");

  urls::url_view url;
  std::string authority_text;
  if (target.front() == '/') {
    auto origin = urls::parse_origin_form(target);
    if (!origin) return fail("invalid request-target: " + origin.error().message());
    url = *origin;
    auto host = req.headers.get("Host");
    if (!host || http::trim(*host).empty()) return fail("missing Host header");
    authority_text = std::string(http::trim(*host));
  } else {
    // absolute-form (RFC 9112 §3.2.2): its authority overrides Host.
    auto absolute = urls::parse_absolute_uri(target);
    if (!absolute) return fail("invalid request-target: " + absolute.error().message());
    if (!absolute->has_authority() || absolute->encoded_host().empty()) {
      return fail("request-target has no authority");
    }
    url = *absolute;
    authority_text = std::string(absolute->encoded_host_and_port());
  }

  // Host = uri-host [ ":" port ] (RFC 9110 §7.2); userinfo is not allowed.
  auto authority = urls::parse_authority(authority_text);
  if (!authority || authority->has_userinfo() || authority->encoded_host().empty()) {
    return fail("invalid Host: " + authority_text);
  }
  const std::string scheme_lower = http::to_lower(scheme);
  auto port = key_port(authority->port(), scheme_lower);
  if (!port) return fail("invalid port in Host: " + authority_text);

  std::string primary = scheme_lower;
  primary += "://";
  primary += lower_host(authority->encoded_host());
  if (!port->empty()) {
    primary += ':';
    primary += *port;
  }
  // Percent-encoding is normalized before dot segments are removed, so
  // "%2E%2E" counts as ".." (RFC 3986 §6.2.2). An empty path is "/"
  // (RFC 9110 §4.2.3).
  std::string path = remove_dot_segments(normalize_percent(url.encoded_path()));
  primary += path.empty() ? "/" : path;
  primary += key_query(url, cfg);

  for (const auto& name : cfg.headers) {
    primary += '|';
    primary += http::to_lower(name);
    primary += '=';
    primary += header_value(req.headers, name);
  }

  KeyResult r;
  r.ok = true;
  r.key.primary = std::move(primary);
  return r;
}

bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case) noexcept {
  // Greedy match with a single backtrack point: the classic linear-ish
  // algorithm, enough for short parameter names.
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() &&
               (ignore_case ? http::iequals(pattern.substr(p, 1), text.substr(t, 1)) : pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace relay::cache
