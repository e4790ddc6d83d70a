// The key a Storage files an entry under: the URL's key (cache::make_key)
// and, for a response that varies (RFC 9111 §4.1), which variant. Backends
// name their records and Redis keys by flat(), the one place that joins the
// two parts; the cache layer never concatenates keys itself.
//
// Invariants: a key without a variant names the URL's own entry (a response,
// or the Vary index that lists its variants); flat() is injective over keys
// whose primary holds no \x1f (cache keys are printable).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay::storage {

struct CacheKey {
  std::string primary;
  // "<generation>\x1f<secondary key>": the generation of the Vary index the
  // variant belongs to (a new index orphans every older variant at once)
  // and the request's values of the Vary fields (cache::vary_key).
  std::optional<std::string> variant;

  CacheKey() = default;
  // Implicit on purpose: most entries are a URL's own, named by its key.
  CacheKey(std::string primary_key) : primary(std::move(primary_key)) {}  // NOLINT(google-explicit-constructor)
  CacheKey(const char* primary_key) : primary(primary_key) {}             // NOLINT(google-explicit-constructor)

  static CacheKey for_variant(std::string primary_key, std::string_view generation, std::string_view secondary) {
    CacheKey key(std::move(primary_key));
    key.set_variant(generation, secondary);
    return key;
  }
  void set_variant(std::string_view generation, std::string_view secondary) {
    variant.emplace(generation).append(1, '\x1f').append(secondary);
  }

  // What a backend stores the entry under. The layout is part of the disk
  // record and Redis formats: change it only with their versions.
  std::string flat() const {
    if (!variant) return primary;
    std::string out = primary;
    out.append("\x1fvary=").append(*variant);
    return out;
  }

  // flat() without a copy when there is no variant (the usual case);
  // otherwise built in `scratch`, which must outlive the view.
  std::string_view flat_view(std::string& scratch) const {
    if (!variant) return primary;
    scratch.assign(primary).append("\x1fvary=").append(*variant);
    return scratch;
  }

  bool operator==(const CacheKey&) const = default;
};

}  // namespace relay::storage
