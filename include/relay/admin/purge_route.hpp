// POST /purge on the admin listener: the body is a purge order
// (purge/order.hpp); the answer says how many entries were affected.
#pragma once

#include <functional>
#include <memory>

#include "relay/admin/router.hpp"
#include "relay/config/config.hpp"

namespace relay::purge {
class Purger;
}

namespace relay::admin {

// Request bodies larger than this are refused (413): an order is one line.
inline constexpr std::size_t kMaxOrderSize = 64 * 1024;

// The configuration in force when a request arrives (hot reload).
using CurrentConfig = std::function<std::shared_ptr<const config::Config>()>;

RouteHandler purge_route(CurrentConfig current, purge::Purger& purger);

}  // namespace relay::admin
