// What a request asks for when it asks to switch protocols (RFC 9110 §7.8).
// Pure: which of the offered protocols relay tunnels is the caller's
// choice (proxy::Handler::upgrade_allowed).
#pragma once

#include <string_view>
#include <vector>

#include "relay/http/request.hpp"

namespace relay::http {

// The protocols `req` offers to switch to, in its order of preference
// ("websocket", "h2c", "foo/2"), when it may switch at all: an HTTP/1.1
// GET without a body, with an Upgrade field and Connection listing
// "upgrade". Empty otherwise. Views into req.headers.
std::vector<std::string_view> offered_upgrades(const Request& req);

// The protocol name of an Upgrade element, without its version ("foo" of "foo/2").
std::string_view upgrade_protocol_name(std::string_view element) noexcept;

}  // namespace relay::http
