// Purge tags carried by origin responses ([purge] tag_headers): Fastly's
// Surrogate-Key (space separated) and Cloudflare's Cache-Tag (comma
// separated) by default. Pure.
#pragma once

#include <string>
#include <vector>

#include "relay/http/headers.hpp"

namespace relay::purge {

// At most this many tags per response, each at most kMaxTagLength bytes;
// longer ones are dropped (a purge could never name them usefully anyway).
inline constexpr std::size_t kMaxTags = 128;
inline constexpr std::size_t kMaxTagLength = 1024;

// The tags a response carries in `tag_headers`, each once, in order of
// appearance. Surrogate-Key splits on spaces and tabs; any other field on
// commas, each element trimmed.
std::vector<std::string> response_tags(const http::Headers& response, const std::vector<std::string>& tag_headers);

// Removes the tag fields from a head bound for a client.
void strip_tag_fields(http::Headers& response, const std::vector<std::string>& tag_headers);

// A tag an operator may purge by: non-empty, at most kMaxTagLength bytes,
// visible ASCII without spaces or commas.
bool valid_tag(std::string_view tag) noexcept;

}  // namespace relay::purge
