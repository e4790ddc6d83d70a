// The one normalised view of a request-target. It is built once per
// request; [[cache.rules]] match its path, the cache key is built from it,
// and the origin receives it, so a rule, a key and a forwarded request can
// never disagree about which resource a request names (a shared cache that
// keys one URL and forwards another can be poisoned). Pure: no I/O, no Asio.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/http/headers.hpp"

namespace relay::cache {

struct QueryParam {
  std::string name;          // percent-encoding normalised (RFC 3986 §6.2.2)
  bool has_value = false;    // "a" and "a=" stay distinct
  std::string value;         // percent-encoding normalised
  std::string decoded_name;  // what ignore_params patterns match, so "utm%5Fx" cannot dodge "utm_*"
};

struct Target {
  Target() = default;
  Target(const Target&) = default;
  Target(Target&&) = default;
  Target& operator=(const Target&) = default;
  Target& operator=(Target&&) = default;
  // Hands its buffers to the next normalize_target on this thread.
  ~Target();

  std::string scheme;     // lower-case
  // host[:port]: the absolute-form target's authority, else Host (RFC 9112
  // §3.2.2); host lower-cased, a default or empty port dropped.
  std::string authority;
  // Unreserved characters decoded, other triplets' hex upper-cased, dot
  // segments removed (after decoding, so "%2e%2e" is ".."), runs of '/'
  // merged into one (as nginx's merge_slashes: an origin that merges them
  // would otherwise see "/api" where the rules saw "//api"); never empty.
  std::string path;
  std::vector<QueryParam> params;  // in received order; empty "&&" elements dropped
};

struct TargetResult {
  bool ok = false;
  Target target;
  std::string error;  // why the request is refused (400)
};

// Normalises a received request-target (origin-form or absolute-form; a
// '#fragment' is dropped) with the request's Host. Refused: no Host, more
// than one Host line, a Host that is not a valid uri-host[:port], a target
// that does not parse, authority-form and "*".
TargetResult normalize_target(std::string_view request_target, const http::Headers& headers,
                              std::string_view scheme = "http");

// Whether the key configuration drops this parameter.
bool ignored_param(const QueryParam& param, const config::CacheKeyConfig& cfg);

// The origin-form target the origin receives: the normalised path and the
// query without the parameters the key ignores, in received order.
std::string forwarded_target(const Target& target, const config::CacheKeyConfig& cfg);
void append_forwarded_target(std::string& out, const Target& target, const config::CacheKeyConfig& cfg);

}  // namespace relay::cache
