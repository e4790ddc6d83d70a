// Range requests answered from a complete stored response (RFC 9110 §14):
// parsing one byte range, deciding between 200, 206 and 416, and the
// If-Range precondition (§13.1.5) that guards a partial answer.
#include "relay/cache/range.hpp"

#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "relay/cache/freshness.hpp"
#include "relay/cache/validation.hpp"

namespace relay::cache {

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// 1*DIGIT, saturating instead of overflowing: a position beyond 2^64 is as
// far past the end as any other, and a huge suffix-length means "all".
std::optional<std::uint64_t> parse_digits(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    n = (n > (kMax - d) / 10) ? kMax : n * 10 + d;
  }
  return n;
}

// One range-spec (RFC 9110 §14.1.1). last == nullopt is "first-" to the end;
// first == nullopt is a suffix-range of last bytes.
struct RangeSpec {
  std::optional<std::uint64_t> first;
  std::optional<std::uint64_t> last;
};

std::optional<RangeSpec> parse_range_spec(std::string_view spec) noexcept {
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto before = http::trim(spec.substr(0, dash));
  auto after = http::trim(spec.substr(dash + 1));
  RangeSpec r;
  if (before.empty()) {
    r.last = parse_digits(after);  // suffix-range = "-" suffix-length
    if (!r.last) return std::nullopt;
    return r;
  }
  r.first = parse_digits(before);
  if (!r.first) return std::nullopt;
  if (!after.empty()) {
    r.last = parse_digits(after);
    // An int-range with last-pos < first-pos is invalid (§14.1.1).
    if (!r.last || *r.last < *r.first) return std::nullopt;
  }
  return r;
}

// The single range-spec of a "bytes" ranges-specifier; nullopt when the
// header is to be ignored: another unit, bad syntax, or several ranges.
// Several ranges would need multipart/byteranges; answering 200 with the
// whole body instead is allowed (§14.2: a server MAY ignore Range).
std::optional<RangeSpec> parse_range_header(std::string_view value) {
  auto eq = value.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  // Range units are case-insensitive (§14.1).
  if (!http::iequals(http::trim(value.substr(0, eq)), "bytes")) return std::nullopt;
  std::optional<RangeSpec> only;
  int count = 0;
  bool valid = true;
  // Empty list elements are allowed by the #rule (§5.6.1) and skipped.
  http::for_each_list_element(value.substr(eq + 1), [&](std::string_view element) {
    ++count;
    auto spec = parse_range_spec(element);
    if (!spec) valid = false;
    only = spec;
  });
  if (!valid || count != 1) return std::nullopt;
  return only;
}

// The stored Last-Modified, when it may serve as a strong validator.
std::optional<std::chrono::system_clock::time_point> strong_last_modified(const http::Headers& stored) {
  auto lm_text = stored.get("Last-Modified");
  if (!lm_text) return std::nullopt;
  auto last_modified = parse_http_date(http::trim(*lm_text));
  if (!last_modified) return std::nullopt;
  // §13.1.5 step 1 and §8.8.2.2: a cache may treat the stored Last-Modified
  // as a strong validator only when the stored Date is at least one second
  // later; otherwise the resource could have changed twice within that
  // second and the client would splice bytes of two different bodies.
  auto date_text = stored.get("Date");
  if (!date_text) return std::nullopt;
  auto stored_date = parse_http_date(http::trim(*date_text));
  if (!stored_date || *stored_date - *last_modified < std::chrono::seconds(1)) return std::nullopt;
  return last_modified;
}

// RFC 9110 §13.1.5. True when the Range may be honoured.
bool if_range_holds(std::string_view value, const http::Headers& stored) {
  value = http::trim(value);
  if (value.starts_with("W/") || value.starts_with("\"")) {
    // Strong comparison (§8.8.3.2): neither side may be weak.
    auto tag = parse_entity_tag(value);
    auto stored_etag = stored.get("ETag");
    if (!tag || tag->weak || !stored_etag) return false;
    auto current = parse_entity_tag(*stored_etag);
    return current && !current->weak && current->opaque == tag->opaque;
  }
  auto date = parse_http_date(value);
  if (!date) return false;
  auto last_modified = strong_last_modified(stored);
  return last_modified && *last_modified == *date;
}

}  // namespace

std::optional<std::string> strong_validator(const http::Headers& headers) {
  if (auto etag = headers.get("ETag")) {
    auto tag = parse_entity_tag(*etag);
    if (tag && !tag->weak) return std::string(tag->opaque);
  }
  if (strong_last_modified(headers)) return std::string(http::trim(*headers.get("Last-Modified")));
  return std::nullopt;
}

RangeDecision evaluate_range(const http::Headers& request, const http::Headers& stored,
                             std::uint64_t size) {
  RangeDecision full;  // outcome Full
  auto range_value = request.get_combined("Range");
  if (!range_value) return full;
  auto spec = parse_range_header(*range_value);
  if (!spec) return full;
  // §13.2.2 step 5: a false If-Range means the Range is ignored, whether or
  // not it could have been satisfied.
  if (auto if_range = request.get_combined("If-Range")) {
    if (!if_range_holds(*if_range, stored)) return full;
  }

  RangeDecision d;
  if (!spec->first) {
    // suffix-range: satisfiable when suffix-length > 0 (§14.1.1); a suffix
    // longer than the body selects the whole body.
    if (*spec->last == 0) {
      d.outcome = RangeOutcome::Unsatisfiable;
      return d;
    }
    // On an empty body a non-zero suffix is satisfiable yet selects no
    // bytes, which a 206 cannot express: send the (empty) whole body.
    if (size == 0) return full;
    std::uint64_t n = *spec->last < size ? *spec->last : size;
    d.outcome = RangeOutcome::Partial;
    d.range = ByteRange{size - n, size - 1};
    return d;
  }
  // int-range: satisfiable when first-pos < size; a last-pos beyond the end
  // is clamped to it (§14.1.1).
  if (*spec->first >= size) {
    d.outcome = RangeOutcome::Unsatisfiable;
    return d;
  }
  std::uint64_t last = (spec->last && *spec->last < size - 1) ? *spec->last : size - 1;
  d.outcome = RangeOutcome::Partial;
  d.range = ByteRange{*spec->first, last};
  return d;
}

std::string content_range(const ByteRange& range, std::uint64_t size) {
  // §14.4: "bytes first-last/complete-length".
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(size);
}

std::string unsatisfied_range(std::uint64_t size) {
  // §14.4 unsatisfied-range, sent with 416 (§15.5.17).
  return "bytes */" + std::to_string(size);
}

}  // namespace relay::cache
