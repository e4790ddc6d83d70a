// `relay --print-config`: the effective configuration as TOML that loads back
// with --config, every key with its value and, in a comment, where the value
// came from. Secrets are masked, so a masked value does not round-trip.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/config/config.hpp"
#include "relay/config/schema.hpp"

namespace relay::config {

// The loader's notations: the largest unit that is exact ("90s", "250ms",
// "1d", "0s"); sizes "64MiB" when a whole number of KiB/MiB/GiB/TiB, else the
// bytes ("1000"). parse_duration / parse_size read them back unchanged.
std::string format_duration(Duration d);
std::string format_size(std::uint64_t bytes);

// What replaces a secret.
inline constexpr std::string_view kMask = "***";
// A key whose value is a secret as a whole: its last segment names a
// password, token or secret (a "_file" naming where one is kept is not).
bool is_secret_key(std::string_view path);
// A URL with its password replaced: "redis://:pw@host/0" -> "redis://:***@host/0",
// "http://user:pw@host/" -> "http://user:***@host/". Anything else unchanged.
std::string mask_url_password(std::string_view url);

// The comment after a value: "default", "relay.toml:12", "env RELAY_X".
std::string source_comment(const Source& s);

// The whole document: a header saying what it is, then every table in schema
// order (each [[cache.rules]] entry after the cache tables), each key as
// `key = value  # source`. Secrets (is_secret_key, passwords in URLs) are
// printed as ***.
std::string print_config(const LoadResult& loaded);

}  // namespace relay::config
