// Request-target normalisation (RFC 3986 §6.2.2, RFC 9110 §4.2.3, RFC 9112
// §3.2): the only place that decides what a request-target means. The key,
// the rules and the forwarded request all read its result.
#include "relay/cache/target.hpp"

#include <algorithm>

#include <boost/url/authority_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "relay/cache/key.hpp"
#include "relay/util/thread_stash.hpp"

namespace relay::cache {

namespace urls = boost::urls;

namespace {

// A thread keeps up to 4 targets' buffers (their strings are bounded by the
// request head's size limit).
using TargetStash = util::ThreadStash<Target, 4>;

TargetResult fail(std::string message) {
  TargetResult r;
  r.error = std::move(message);
  return r;
}

constexpr bool is_unreserved(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr char upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// RFC 3986 §6.2.2.1-2: decode triplets of unreserved characters and
// upper-case the hex of the rest. Done here rather than with
// url::normalize(), which in Boost 1.81 also decodes reserved characters in
// the query (%26 -> '&'), changing the meaning of the URL.
void append_normalized_percent(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
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
}

// Every triplet decoded (what a parameter's name means, for ignore_params).
void append_decoded(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
}

// RFC 3986 §5.2.4 remove_dot_segments for an absolute path. Boost 1.81's
// normalize_path() keeps leading "/../" segments, so it is not used.
void remove_dot_segments(std::string_view in, std::string& out) {
  out.clear();
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
}

void merge_slashes(std::string& path) {
  auto last = std::unique(path.begin(), path.end(), [](char a, char b) { return a == '/' && b == '/'; });
  path.erase(last, path.end());
}

// Lower-cases a host (RFC 3986 §6.2.2.1) while keeping the hex digits of
// percent-encoded triplets upper-case.
void assign_lower_host(std::string& out, std::string_view host) {
  out.clear();
  append_normalized_percent(out, host);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '%') {
      i += 2;
      continue;
    }
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  }
}

// Characters RFC 3986 allows anywhere in a URI: unreserved, reserved and '%'.
bool uri_characters_only(std::string_view text) {
  constexpr std::string_view allowed_symbols = "-._~:/?#[]@!$&'()*+,;=%";
  return std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           allowed_symbols.find(c) != std::string_view::npos;
  });
}

}  // namespace

TargetResult normalize_target(std::string_view request_target, const http::Headers& headers,
                              std::string_view scheme) {
  // RFC 9112 §3.2: more than one Host line is refused, whatever the target form.
  std::size_t host_lines = 0;
  std::string_view host_value;
  for (const auto& f : headers) {
    if (!http::iequals(f.name, "host")) continue;
    ++host_lines;
    host_value = http::trim(f.value);
  }
  if (host_lines > 1) return fail("more than one Host header");

  // A fragment is never part of a request-target (RFC 9110 §4.2.1): drop
  // one sent by a sloppy client rather than refuse it, and never forward it.
  std::string_view text = request_target.substr(0, request_target.find('#'));
  if (text.empty()) return fail("empty request-target");
  // Refused before Boost.URL sees them (it would refuse them too, but 1.81
  // trips an assertion on some in an absolute-form target, "http:|").
  if (!uri_characters_only(text)) return fail("invalid request-target: a character a URI may not contain");

  urls::url_view url;
  std::string_view authority_text;
  if (text.front() == '/') {
    auto origin = urls::parse_origin_form(text);
    if (!origin) return fail("invalid request-target: " + origin.error().message());
    url = *origin;
    if (host_lines == 0 || host_value.empty()) return fail("missing Host header");
    authority_text = host_value;
  } else {
    // absolute-form (RFC 9112 §3.2.2): its authority overrides Host, which
    // must still be a valid field (checked below when present). Only http
    // and https URIs, with an authority, are requests for relay; checked
    // first, as Boost.URL 1.81 trips an assertion on a rootless path with
    // a bad character ("is:[").
    const auto starts_with = [&](std::string_view prefix) {
      return text.size() >= prefix.size() && http::iequals(text.substr(0, prefix.size()), prefix);
    };
    if (!starts_with("http://") && !starts_with("https://")) {
      return fail("request-target must be origin-form or an http(s) absolute-form");
    }
    auto absolute = urls::parse_absolute_uri(text);
    if (!absolute) return fail("invalid request-target: " + absolute.error().message());
    if (!absolute->has_authority() || absolute->encoded_host().empty()) {
      return fail("request-target has no authority");
    }
    // Boost.URL 1.81 takes "http://h:x/p" as host "h", an empty port and
    // the path "x/p"; a path must start with '/' (path-abempty) or be empty,
    // else rules would see one path and the origin's request line another.
    if (auto path = absolute->encoded_path(); !path.empty() && path.front() != '/') {
      return fail("invalid request-target: a bad port or a path not starting with '/'");
    }
    url = *absolute;
    authority_text = absolute->encoded_host_and_port();
    if (host_lines == 1) {
      auto host = urls::parse_authority(host_value);
      if (!host || host->has_userinfo() || host->encoded_host().empty()) {
        return fail("invalid Host: " + std::string(host_value));
      }
    }
  }

  // Host = uri-host [ ":" port ] (RFC 9110 §7.2); userinfo is not allowed.
  auto authority = urls::parse_authority(authority_text);
  if (!authority || authority->has_userinfo() || authority->encoded_host().empty()) {
    return fail("invalid Host: " + std::string(authority_text));
  }
  // Filled in the buffers of a target dropped earlier (TargetStash): a hit
  // normalises its target without allocating.
  TargetResult r;
  Target& t = r.target;
  TargetStash::take(t);
  t.scheme.assign(scheme);
  for (auto& c : t.scheme) c = http::ascii_lower(c);
  auto port = key_port(authority->port(), t.scheme);
  if (!port) return fail("invalid port in Host: " + std::string(authority_text));
  assign_lower_host(t.authority, authority->encoded_host());
  if (!port->empty()) t.authority.append(":").append(*port);

  // Percent-encoding is normalised before dot segments are removed, so
  // "%2E%2E" counts as ".." (RFC 3986 §6.2.2). An empty path is "/"
  // (RFC 9110 §4.2.3).
  thread_local std::string percent_normalized;
  percent_normalized.clear();
  append_normalized_percent(percent_normalized, url.encoded_path());
  remove_dot_segments(percent_normalized, t.path);
  merge_slashes(t.path);
  if (t.path.empty()) t.path = "/";
  // Parameters written over the kept ones, so their strings keep their buffers.
  const auto params = url.encoded_params();
  const auto carries = [](const auto& p) { return !(p.key.empty() && !p.has_value); };  // "a=1&&b=2"
  t.params.resize(static_cast<std::size_t>(std::count_if(params.begin(), params.end(), carries)));
  auto into = t.params.begin();
  for (auto p : params) {
    if (!carries(p)) continue;
    into->name.clear();
    append_normalized_percent(into->name, p.key);
    into->has_value = p.has_value;
    into->value.clear();
    append_normalized_percent(into->value, p.value);
    into->decoded_name.clear();
    append_decoded(into->decoded_name, p.key);
    ++into;
  }
  r.ok = true;
  return r;
}

bool ignored_param(const QueryParam& param, const config::CacheKeyConfig& cfg) {
  return std::any_of(cfg.ignore_params.begin(), cfg.ignore_params.end(),
                     [&](const std::string& pattern) { return glob_match(pattern, param.decoded_name); });
}

std::string forwarded_target(const Target& target, const config::CacheKeyConfig& cfg) {
  std::string out;
  append_forwarded_target(out, target, cfg);
  return out;
}

void append_forwarded_target(std::string& out, const Target& target, const config::CacheKeyConfig& cfg) {
  out += target.path;
  bool first = true;
  for (const auto& p : target.params) {
    if (ignored_param(p, cfg)) continue;
    out += first ? '?' : '&';
    first = false;
    out += p.name;
    if (p.has_value) out.append("=").append(p.value);
  }
}

Target::~Target() {
  // Only what is worth keeping: most dropped targets are a refusal's empty one.
  if (path.capacity() > 15 || authority.capacity() > 15 || !params.empty()) TargetStash::give(*this);
}

}  // namespace relay::cache
