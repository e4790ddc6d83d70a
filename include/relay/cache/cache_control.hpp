// Cache-Control parsing (RFC 9111 §5.2, RFC 9110 §5.6). Pure.
// Directive names are case-insensitive; for duplicated delta-seconds
// directives the first valid occurrence wins; invalid values are treated as
// the most conservative reading (an invalid max-age means stale: 0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/http/headers.hpp"

namespace relay::cache {

struct CacheControl {
  // Response and request directives share the grammar; each side reads the
  // ones that apply to it.
  std::optional<std::int64_t> max_age;
  std::optional<std::int64_t> s_maxage;
  std::optional<std::int64_t> max_stale;  // request; value-less = any staleness
  bool max_stale_any = false;
  std::optional<std::int64_t> min_fresh;
  std::optional<std::int64_t> stale_while_revalidate;  // RFC 5861
  std::optional<std::int64_t> stale_if_error;          // RFC 5861
  bool no_store = false;
  bool no_cache = false;                  // value-less form
  std::vector<std::string> no_cache_fields;  // no-cache="a, b"
  bool is_private = false;                // value-less form
  std::vector<std::string> private_fields;   // private="a, b"
  bool is_public = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool must_understand = false;
  bool immutable = false;
  bool only_if_cached = false;
  bool no_transform = false;
};

// Parses every Cache-Control field line of the headers combined.
CacheControl parse_cache_control(const http::Headers& headers);
CacheControl parse_cache_control(std::string_view value);

// The Cache-Control that governs this cache's own handling of a response
// (RFC 9213 §2.2): the first of targeted_fields (names, in precedence order)
// that is present and valid is used instead of Cache-Control. Valid means an
// RFC 8941 Dictionary (case-sensitive keys, strict syntax) whose known
// directives have their types (§2.1: max-age=60, not max-age="60"); a
// valid field with no known directive ("none") still counts, an empty or
// invalid one is ignored as if absent. When one is used, *targeted_used is
// set and the caller must ignore Expires as well.
CacheControl effective_cache_control(const http::Headers& response,
                                     const std::vector<std::string>& targeted_fields,
                                     bool* targeted_used = nullptr);

// delta-seconds (RFC 9111 §1.2.2): digits only; overflow saturates at 2^31.
std::optional<std::int64_t> parse_delta_seconds(std::string_view text) noexcept;

}  // namespace relay::cache
