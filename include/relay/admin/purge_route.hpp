// POST /purge on the admin listener: the body is a purge order
// (purge/order.hpp); the answer says how many entries were affected.
#pragma once

#include "relay/admin/router.hpp"
#include "relay/config/config.hpp"

namespace relay::purge {
class Purger;
}

namespace relay::admin {

// Request bodies larger than this are refused (413): an order is one line.
inline constexpr std::size_t kMaxOrderSize = 64 * 1024;

RouteHandler purge_route(const config::Config& cfg, purge::Purger& purger);

}  // namespace relay::admin
