// Internal to src/config: checks on single values beyond their Kind.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relay::config::detail {

bool valid_port(std::string_view p);
// RFC 9110 §5.6.2 token: field names, and the cache name in Cache-Status.
bool is_token(std::string_view s);
// Throws ConfigError (where + message) naming the first entry that is not a field name.
void check_field_names(const std::vector<std::string>& names, const std::string& where);
// "type/subtype" or "type/*".
bool is_media_range(std::string_view s);

}  // namespace relay::config::detail
