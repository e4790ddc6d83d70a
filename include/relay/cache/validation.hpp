// Validation (RFC 9111 §4.3): conditional requests to the origin, freshening
// a stored response from a 304, and answering clients' conditionals from
// the cache. Pure.
#pragma once

#include <optional>
#include <string_view>

#include "relay/http/headers.hpp"

namespace relay::cache {

// An entity-tag (RFC 9110 §8.8.3): the case-sensitive "W/" weak indicator
// and the opaque-tag, quotes included, viewing the parsed text.
struct EntityTag {
  bool weak = false;
  std::string_view opaque;
};
// nullopt when the (trimmed) text is not an entity-tag.
std::optional<EntityTag> parse_entity_tag(std::string_view text) noexcept;

// §4.3.1: If-None-Match from the stored ETag and/or If-Modified-Since from
// the stored Last-Modified. Empty when the stored response has neither.
http::Headers validators_for(const http::Headers& stored);

// §4.3.4: stored fields updated from a 304: every field in the 304 replaces
// the stored ones of that name, except body-describing fields
// (Content-Length, Content-Encoding, Content-Type, Content-Range,
// Transfer-Encoding) which keep their stored values.
http::Headers freshen(const http::Headers& stored, const http::Headers& not_modified);

// RFC 9110 §13.1.2 (weak comparison) and §13.1.3, evaluated in the order of
// §13.2.2: If-None-Match first; If-Modified-Since only when there is no
// If-None-Match. True = answer 304 from the stored response. Only for
// GET/HEAD and a stored 200.
bool answer_not_modified(const http::Headers& request, const http::Headers& stored, int stored_status);

// The fields a 304 carries (RFC 9110 §15.4.5): those of the stored response
// minus the body-describing ones.
http::Headers not_modified_fields(const http::Headers& stored);

}  // namespace relay::cache
