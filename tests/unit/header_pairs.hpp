// Header blocks written inline in table-driven tests: {{"Name", "value"}, ...}.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "relay/http/headers.hpp"

namespace relay::test {

using Pairs = std::vector<std::pair<std::string, std::string>>;

inline http::Headers make_headers(const Pairs& pairs) {
  http::Headers h;
  for (const auto& [n, v] : pairs) h.add(n, v);
  return h;
}

// The same from string literals, for tests that build one block per line.
inline http::Headers headers(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::Headers h;
  for (const auto& [name, value] : fields) h.add(name, value);
  return h;
}

}  // namespace relay::test
