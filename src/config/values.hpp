// Internal to src/config: reading one value of a given Kind from a TOML node
// or an environment string. Both throw std::invalid_argument with a message
// that the caller prefixes with the key's location.
#pragma once

#include <string>

#include <toml++/toml.h>

#include "relay/config/schema.hpp"

namespace relay::config::detail {

// A TOML integer is seconds for a Duration and bytes for a Size.
Value from_node(Kind k, const toml::node& n);
// Lists are comma-separated (items trimmed, empty ones dropped); booleans
// also accept 1/0/yes/no.
Value from_env(Kind k, const std::string& text);
// A node as messages show it: strings in double quotes, "a table", "an array".
std::string shown(const toml::node& n);

}  // namespace relay::config::detail
