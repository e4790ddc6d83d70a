// What a purge asks of a Storage: which entries (a URL, a key prefix, a
// glob, a tag, everything), how (removed, or only marked stale so the next
// request revalidates), and where (every level this instance writes to, or
// only what is this instance's alone, for a purge another instance of the
// fleet already carried out on the shared level). Pure: no I/O.
//
// Selectors match cache keys (cache::make_key's primary, "http://host/path?query"
// plus "|name=value" per keyed header), never raw request-targets: the
// admin API normalises what an operator typed exactly as a request would be.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace relay::storage {

enum class PurgeMode : std::uint8_t {
  hard,  // the entries are removed
  soft,  // the entries stay, stale from the purge on (InternalMeta::stale_at)
};

enum class PurgeScope : std::uint8_t {
  everywhere,     // every level, shared ones (Redis) included
  this_instance,  // levels no other instance reads (memory, disk); Redis is left alone
};

struct PurgeSelector {
  enum class Kind : std::uint8_t {
    url,     // value: a URL's primary key; matches it, its keyed-header forms and every Vary variant
    prefix,  // value: the start of primary keys
    glob,    // value: a pattern over primary keys where '*' matches any run of characters
    tag,     // value: one tag (InternalMeta::tags)
    all,     // value: empty
  };
  Kind kind = Kind::all;
  std::string value;

  // Does an entry filed under `primary` (CacheKey::primary) with `tags` match?
  bool matches(std::string_view primary, std::span<const std::string> tags) const noexcept;
  bool operator==(const PurgeSelector&) const = default;
};

std::string_view to_string(PurgeSelector::Kind kind) noexcept;
std::string_view to_string(PurgeMode mode) noexcept;

struct PurgeRequest {
  PurgeSelector selector;
  PurgeMode mode = PurgeMode::hard;
  PurgeScope scope = PurgeScope::everywhere;
  // When the purge was issued: a soft purge makes entries stale from then
  // on; an entry stored after it is not affected.
  std::chrono::system_clock::time_point at{};
};

}  // namespace relay::storage
