// Purge selectors (storage/purge.hpp): the one definition of which entries a
// purge reaches, shared by every backend and by the guard that keeps an
// in-flight fill from storing what was purged while it ran.
#include "relay/storage/purge.hpp"

#include <algorithm>

#include "relay/cache/key.hpp"

namespace relay::storage {

bool PurgeSelector::matches(std::string_view primary, std::span<const std::string> tags) const noexcept {
  switch (kind) {
    case Kind::url:
      // A URL's key, or the same URL under keyed request headers ("|name=value").
      return primary.starts_with(value) && (primary.size() == value.size() || primary[value.size()] == '|');
    case Kind::prefix:
      return primary.starts_with(value);
    case Kind::glob:
      return cache::glob_match(value, primary);
    case Kind::tag:
      return std::find(tags.begin(), tags.end(), value) != tags.end();
    case Kind::all:
      return true;
  }
  return false;
}

std::string_view to_string(PurgeSelector::Kind kind) noexcept {
  switch (kind) {
    case PurgeSelector::Kind::url: return "url";
    case PurgeSelector::Kind::prefix: return "prefix";
    case PurgeSelector::Kind::glob: return "glob";
    case PurgeSelector::Kind::tag: return "tag";
    case PurgeSelector::Kind::all: return "all";
  }
  return "all";
}

std::string_view to_string(PurgeMode mode) noexcept { return mode == PurgeMode::soft ? "soft" : "hard"; }

}  // namespace relay::storage
