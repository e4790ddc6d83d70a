// Invalidation by unsafe methods (RFC 9111 §4.4). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relay/http/request.hpp"

namespace relay::cache {

// True for a non-error response (2xx, 3xx) to a method other than GET,
// HEAD, OPTIONS and TRACE.
bool invalidates(std::string_view method, int status);

// The request-targets (origin-form) to invalidate: the request's own, plus
// Location and Content-Location when they resolve (relative to the request
// URI) to the same origin (scheme and host as the request's Host).
std::vector<std::string> invalidation_targets(const http::Request& request, const http::Headers& response);

}  // namespace relay::cache
