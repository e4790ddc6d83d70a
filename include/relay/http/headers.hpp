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

// ASCII only: field names and tokens are ASCII, and locale-aware tolower
// would make the result depend on the process locale.
constexpr char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

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

// Field storage is recycled: fields removed or cleared keep their strings'
// buffers as spares for the next fields added by copy (add_copy, set_copy),
// and a Headers that dies hands its fields to a small per-thread stash that
// the next one to grow takes them from. A cache hit unpacks the same fields
// every time, so in the steady state it allocates nothing for them.
class Headers {
 public:
  using const_iterator = std::vector<Field>::const_iterator;

  Headers() noexcept = default;
  Headers(const Headers& other);
  Headers(Headers&& other) noexcept;
  Headers& operator=(const Headers& other);
  Headers& operator=(Headers&& other) noexcept;
  ~Headers();

  void add(std::string name, std::string value);
  // The same, copying into a spare field's buffers when there is one.
  void add_copy(std::string_view name, std::string_view value);
  // Replaces every field of that name with one field.
  void set(std::string_view name, std::string value);
  void set_copy(std::string_view name, std::string_view value);
  // Returns how many fields were removed.
  std::size_t remove(std::string_view name);
  bool contains(std::string_view name) const noexcept;
  // The first field of that name.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  // Every field line of that name joined by ", " (RFC 9110 §5.3).
  std::optional<std::string> get_combined(std::string_view name) const;
  // The same appended to out; false (out unchanged) when there is none.
  bool append_combined(std::string_view name, std::string& out) const;
  // True when any comma-separated element of the named fields equals token.
  bool has_token(std::string_view name, std::string_view token) const;

  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.begin() + static_cast<std::ptrdiff_t>(live_); }
  std::size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }
  void clear() noexcept { live_ = 0; }
  // Room for n fields in all, so adding up to that many allocates no more.
  void reserve(std::size_t n);
  // Same fields in the same order, names compared as written.
  bool operator==(const Headers& other) const noexcept;

 private:
  // The field add/set fill next: a spare one, else a new one.
  Field& next_field();
  // Keeps the fields in [begin, kept) in order and makes the rest spare.
  void drop_from(std::vector<Field>::iterator kept) noexcept;
  std::vector<Field>::iterator live_end() noexcept { return fields_.begin() + static_cast<std::ptrdiff_t>(live_); }

  std::vector<Field> fields_;  // [0, live_) the fields, the rest spares
  std::size_t live_ = 0;
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
