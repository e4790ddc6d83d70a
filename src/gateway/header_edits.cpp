// Header edits (header_edits.hpp).
#include "relay/gateway/header_edits.hpp"

namespace relay::gateway {

void apply_edits(http::Headers& headers, const config::HeaderEdits& edits) {
  for (const auto& name : edits.remove) headers.remove(name);
  for (const auto& [name, value] : edits.set) headers.set(name, value);
  for (const auto& [name, value] : edits.add) headers.add(name, value);
}

}  // namespace relay::gateway
