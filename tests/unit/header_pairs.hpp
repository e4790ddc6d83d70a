// Header blocks written inline in table-driven tests: {{"Name", "value"}, ...}.
#pragma once

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

}  // namespace relay::test
