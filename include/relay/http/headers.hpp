// An ordered list of HTTP header fields. Order and duplicates are preserved
// because a proxy must forward what it received; lookups ignore case
// (RFC 9110 §5.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay::http {

// ASCII case-insensitive equality. Inline: it runs for every field of every
// lookup, and most calls end at the size check.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    const char y = b[i];
    if (x == y) continue;
    // Equal but for case only when both are the same letter.
    if ((x ^ y) != 0x20) return false;
    const char folded = static_cast<char>(x | 0x20);
    if (folded < 'a' || folded > 'z') return false;
  }
  return true;
}
std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s) noexcept;

struct Field {
  std::string name;
  std::string value;
  bool operator==(const Field&) const = default;
};

class Headers {
 public:
  using const_iterator = std::vector<Field>::const_iterator;

  void add(std::string name, std::string value);
  // Replaces every field of that name with one field.
  void set(std::string_view name, std::string value);
  // Returns how many fields were removed.
  std::size_t remove(std::string_view name);
  bool contains(std::string_view name) const noexcept;
  // The first field of that name.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  // Every field line of that name joined by ", " (RFC 9110 §5.3).
  std::optional<std::string> get_combined(std::string_view name) const;
  // True when any comma-separated element of the named fields equals token.
  bool has_token(std::string_view name, std::string_view token) const;

  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.end(); }
  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }
  // Room for n fields in all, so adding up to that many allocates no more.
  void reserve(std::size_t n) { fields_.reserve(n); }
  // Same fields in the same order, names compared as written.
  bool operator==(const Headers&) const = default;

 private:
  std::vector<Field> fields_;
};

// Calls fn(element) for each comma-separated element of a list field value,
// trimmed, skipping empty elements and honouring quoted strings.
template <class Fn>
void for_each_list_element(std::string_view value, Fn&& fn) {
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i < value.size()) {
      char c = value[i];
      if (c == '"') quoted = !quoted;
      if (c == '\\' && quoted && i + 1 < value.size()) {
        ++i;
        continue;
      }
      if (c != ',' || quoted) continue;
    }
    auto element = trim(value.substr(start, i - start));
    if (!element.empty()) fn(element);
    start = i + 1;
  }
}

// A valid Content-Length (digits only, RFC 9110 §8.6), else nullopt.
std::optional<std::uint64_t> content_length(const Headers& headers);

// tchar and token (RFC 9110 §5.6.2): what a field name or method is made of.
bool is_tchar(char c) noexcept;
bool is_token(std::string_view text) noexcept;  // non-empty, tchars only

// Hop-by-hop fields (RFC 9110 §7.6.1) including those named in Connection.
bool is_hop_by_hop(std::string_view name) noexcept;
// Removes hop-by-hop fields, including any listed in a Connection field.
void strip_hop_by_hop(Headers& headers);

}  // namespace relay::http
