// Route matching (route_table.hpp).
#include "relay/gateway/route_table.hpp"

#include "relay/cache/key.hpp"

namespace relay::gateway {

std::string_view host_of(std::string_view authority) noexcept {
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    return close == std::string_view::npos ? authority.substr(1) : authority.substr(1, close - 1);
  }
  const auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

std::optional<std::size_t> match_route(const std::vector<config::Route>& routes, std::string_view authority,
                                       std::string_view path) noexcept {
  const auto host = host_of(authority);
  for (std::size_t i = 0; i < routes.size(); ++i)
    if (config::host_matches(routes[i].host, host) && cache::glob_match(routes[i].path, path)) return i;
  return std::nullopt;
}

}  // namespace relay::gateway
