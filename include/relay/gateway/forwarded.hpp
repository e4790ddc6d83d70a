// Who the client is behind trusted proxies, and the forwarding fields relay
// sends to the origin ([server] trusted_proxies, forwarded). Pure.
//
// From a trusted peer, X-Forwarded-For is kept and extended, X-Forwarded-Proto
// kept, and the client is the first address from the right of the chain that
// is not itself a trusted proxy (nginx real_ip_recursive). From any other
// peer both are overwritten: a chain a client wrote itself never reaches the
// origin as if relay vouched for it.
#pragma once

#include <string>
#include <string_view>

#include "relay/admin/cidr.hpp"
#include "relay/http/headers.hpp"

namespace relay::gateway {

// The client address for logs and rate limits.
std::string real_client(std::string_view peer, const http::Headers& request, const admin::Allowlist& trusted);

// Sets X-Forwarded-For, X-Forwarded-Proto (and RFC 7239 Forwarded when
// `forwarded`) on a request about to go to the origin. `host` is the Host
// the client asked for, `scheme` the one it used to reach relay (https on
// the TLS listener); a trusted peer's X-Forwarded-Proto is kept.
void set_forwarding_fields(http::Headers& upstream, std::string_view peer, std::string_view host,
                           const admin::Allowlist& trusted, bool forwarded, std::string_view scheme = "http");

}  // namespace relay::gateway
