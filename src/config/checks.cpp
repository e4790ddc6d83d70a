// Checks on single values that the schema's Kinds cannot express: ports,
// header field names, media ranges. Each is a predicate or throws a
// message without location; the validator adds the key and where it was set.
#include "checks.hpp"

#include "relay/config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace relay::config::detail {

bool valid_port(std::string_view p) {
  unsigned n = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
  return ec == std::errc{} && !p.empty() && end == p.data() + p.size() && n >= 1 && n <= 65535;
}

// RFC 9110 §5.6.2 token: field names, and the cache name in Cache-Status.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char ch) {
    return std::isalnum(ch) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) != std::string_view::npos;
  });
}

// Throws naming the first entry that is not a header field name.
void check_field_names(const std::vector<std::string>& names, const std::string& where) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (!is_token(names[i]))
      throw ConfigError(where + "expected header field names, got \"" + names[i] + "\" at index " +
                        std::to_string(i));
}

// A media type to match Content-Type against: "type/subtype", where the
// subtype may be '*' ("text/*"). No parameters, no other wildcards.
bool is_media_range(std::string_view s) {
  const auto plain = [](std::string_view t) { return is_token(t) && t.find('*') == std::string_view::npos; };
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  const auto subtype = s.substr(slash + 1);
  return plain(s.substr(0, slash)) && (subtype == "*" || plain(subtype));
}



}  // namespace relay::config::detail
