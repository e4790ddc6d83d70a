// Generation ids for Vary markers, and the field that carries them (see
// variant_key in handler.hpp for the storage layout).
#pragma once

#include <string>
#include <string_view>

namespace relay::proxy {

std::string new_vary_generation();
std::string_view vary_generation_field();

}  // namespace relay::proxy
