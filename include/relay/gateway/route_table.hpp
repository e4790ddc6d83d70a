// Which [[routes]] entry a request takes: the first whose Host pattern and
// path glob match the normalised request (the same target the cache rules
// match and the origin receives). Pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "relay/config/config.hpp"

namespace relay::gateway {

// The host of an authority ("example.com:8080" -> "example.com",
// "[::1]:80" -> "::1").
std::string_view host_of(std::string_view authority) noexcept;

// The index of the first matching route, or nullopt (no route: 404).
std::optional<std::size_t> match_route(const std::vector<config::Route>& routes, std::string_view authority,
                                       std::string_view path) noexcept;

}  // namespace relay::gateway
