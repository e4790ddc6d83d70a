// A route's header edits ([[routes]] request_headers / response_headers):
// remove, then set (replacing every field of the name), then add. Pure.
#pragma once

#include "relay/config/config.hpp"
#include "relay/http/headers.hpp"

namespace relay::gateway {

void apply_edits(http::Headers& headers, const config::HeaderEdits& edits);

}  // namespace relay::gateway
