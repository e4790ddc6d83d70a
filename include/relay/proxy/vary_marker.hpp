// Generation ids for Vary indexes (storage::VaryIndex): each variant is
// filed under CacheKey::for_variant(primary, generation, secondary), so a
// new index (new generation) orphans every older variant at once.
#pragma once

#include <string>
#include <string_view>

namespace relay::proxy {

std::string new_vary_generation();

}  // namespace relay::proxy
