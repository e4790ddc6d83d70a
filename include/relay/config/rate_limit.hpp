// Reading and checking a RateLimitConfig: the "key" notation ("client",
// "header:<Name>", "route"), the ranges of rate, burst and per, and a whole
// limit from an inline TOML table (a route's rate_limit = { ... }), with
// messages that name the key and file:line like the rest of the loader.
// [server.rate_limit] itself goes through the schema rows (fields.cpp), so
// every one of its keys has its RELAY_SERVER_RATE_LIMIT_* variable.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "relay/config/config.hpp"

namespace relay::config {

// "client" | "header:<Name>" | "route" into out.key (and out.header);
// throws std::invalid_argument("expected ..., got \"text\"").
void parse_rate_limit_key(std::string_view text, RateLimitConfig& out);
// The key as written in the file: "client", "header:X-Api-Key", "route".
std::string rate_limit_key_text(const RateLimitConfig& limit);

// The bucket size a limit really uses: burst, or the rate when burst is 0,
// never below one request (a bucket must hold at least the one it admits).
double effective_burst(const RateLimitConfig& limit) noexcept;

// The first problem of a limit as {key inside the limit, message}
// ({"burst", "must be >= 1 ..."}), nullopt when it is usable.
std::optional<std::pair<std::string, std::string>> rate_limit_problem(const RateLimitConfig& limit);

// A limit from an inline table such as { rate = 5, burst = 5, key = "client" }.
// `path` is the dotted key the table sits at ("routes[2].rate_limit") and
// `source` the file name, for messages: "relay.toml:12: routes[2].rate_limit.burst: ...".
// Throws ConfigError for an unknown key, a bad value or a failed check.
RateLimitConfig parse_rate_limit(const toml::table& table, const std::string& path,
                                 const std::string& source);

}  // namespace relay::config
