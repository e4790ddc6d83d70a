// Vary (RFC 9111 §4.1): the secondary key that selects one stored variant.
// Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relay/http/headers.hpp"

namespace relay::cache {

// The normalized Vary field-name list of a response: lower-cased, sorted,
// de-duplicated, joined by ','. "" when there is no Vary; "*" for Vary: *.
std::string vary_names(const http::Headers& response);

// The secondary key for a request under a vary_names() list: each nominated
// request header's combined field lines with whitespace around commas and
// runs of spaces normalized, as "name=value" joined by '\x1f'.
// Accept-Encoding and Accept-Language are put in a canonical form first
// (lower case, no q=1, by descending q then alphabetically), so equivalent
// preference lists select one variant. nullopt for "*" (never matches). ""
// for an empty list.
std::optional<std::string> vary_key(const std::string& names, const http::Headers& request);
// The same appended to out; false for "*" (out unchanged).
bool append_vary_key(std::string& out, std::string_view names, const http::Headers& request);

// The variant a fill under these vary_names() publishes to its followers:
// vary_key, with "" both for no Vary and for Vary: * (nobody follows that).
std::string variant_for(const std::string& names, const http::Headers& request);

}  // namespace relay::cache
