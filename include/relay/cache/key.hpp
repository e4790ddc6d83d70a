// Cache keys: one normalized string per cacheable resource, built only here.
// Pure: no I/O, no Asio.
#pragma once

#include <optional>
#include <string>

#include "relay/config/config.hpp"
#include "relay/cache/target.hpp"
#include "relay/http/request.hpp"

namespace relay::cache {

struct CacheKey {
  // "http://host[:port]/path?sorted&query" plus "|name=value" per configured
  // header. Scheme and host lower-cased, default port dropped, path
  // normalized as in target.hpp, ignored parameters dropped.
  std::string primary;

  bool operator==(const CacheKey&) const = default;
};

// GET and HEAD share a key (a HEAD is answered from a stored GET): the
// method is not part of it. Other methods are never looked up.
// Returns false in .ok when the target cannot be parsed.
struct KeyResult {
  bool ok = false;
  CacheKey key;
  std::string error;
};

// The key of a normalised target: what the request path uses. Built in a
// recycled buffer (util/string_stash.hpp).
CacheKey make_key(const Target& target, const http::Headers& headers, const config::CacheKeyConfig& cfg);
// Normalises the request's target first (for probes such as invalidation).
KeyResult make_key(const http::Request& req, const config::CacheKeyConfig& cfg,
                   std::string_view scheme = "http");

// Shell-style match where '*' matches any run of characters.
bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case = false) noexcept;

// The port as it belongs in a key or an origin comparison: empty when absent
// or the scheme's default (RFC 3986 §6.2.3), leading zeros removed; nullopt
// when invalid.
std::optional<std::string> key_port(std::string_view port, std::string_view scheme);

}  // namespace relay::cache
