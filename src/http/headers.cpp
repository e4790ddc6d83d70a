// Header field storage and the small string helpers every HTTP component
// shares. Field names compare case-insensitively (RFC 9110 §5.1); values are
// kept byte-for-byte because a proxy forwards what it received.
#include "relay/http/headers.hpp"

#include <algorithm>
#include <array>
#include <functional>

#include "relay/util/thread_stash.hpp"

namespace relay::http {

namespace {

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// OWS is only space and horizontal tab (RFC 9110 §5.6.3).
std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// ---------------------------------------------------------- the stash

namespace {

// A thread keeps up to 8 vectors of at most kLargestStashed fields, each
// string over kLongestKept bytes released first: at most 8 * 64 * 2 * 512
// bytes of strings per thread.
using FieldStash = util::ThreadStash<std::vector<Field>, 8>;
constexpr std::size_t kLargestStashed = 64;
constexpr std::size_t kLongestKept = 512;

void release_if_long(std::string& s) noexcept {
  if (s.capacity() > kLongestKept) std::string().swap(s);
}

void give_to_stash(std::vector<Field>& fields) noexcept {
  if (fields.capacity() == 0 || fields.size() > kLargestStashed) return;
  for (auto& field : fields) {
    release_if_long(field.name);
    release_if_long(field.value);
  }
  FieldStash::give(fields);
}

}  // namespace

// --------------------------------------------------------------- Headers

Headers::Headers(const Headers& other) {
  reserve(other.size());
  for (const auto& f : other) add_copy(f.name, f.value);
}

Headers::Headers(Headers&& other) noexcept : fields_(std::move(other.fields_)), live_(std::exchange(other.live_, 0)) {
  other.fields_.clear();
}

Headers& Headers::operator=(const Headers& other) {
  if (this == &other) return *this;
  live_ = 0;
  reserve(other.size());
  for (const auto& f : other) add_copy(f.name, f.value);
  return *this;
}

Headers& Headers::operator=(Headers&& other) noexcept {
  if (this == &other) return *this;
  give_to_stash(fields_);
  fields_ = std::move(other.fields_);
  live_ = std::exchange(other.live_, 0);
  other.fields_.clear();
  return *this;
}

Headers::~Headers() { give_to_stash(fields_); }

void Headers::reserve(std::size_t n) {
  if (fields_.capacity() == 0) FieldStash::take(fields_);
  fields_.reserve(n);
}

Field& Headers::next_field() {
  if (live_ == fields_.size() && fields_.capacity() == 0) FieldStash::take(fields_);
  if (live_ < fields_.size()) return fields_[live_++];
  auto& field = fields_.emplace_back();
  ++live_;
  return field;
}

void Headers::drop_from(std::vector<Field>::iterator kept) noexcept {
  live_ = static_cast<std::size_t>(kept - fields_.begin());
}

// Built in place, then filled: clang 15 has no parenthesised aggregate init.
void Headers::add(std::string name, std::string value) {
  auto& field = next_field();
  field.name = std::move(name);
  field.value = std::move(value);
}

void Headers::add_copy(std::string_view name, std::string_view value) {
  // A view into one of these fields' inline buffers would move away if
  // adding grows the vector: such a pair is copied out first.
  const std::less<const void*> before;
  const auto* lo = static_cast<const void*>(fields_.data());
  const auto* hi = static_cast<const void*>(fields_.data() + fields_.size());
  auto inside = [&](std::string_view v) { return !before(v.data(), lo) && before(v.data(), hi); };
  if (inside(name) || inside(value)) return add(std::string(name), std::string(value));
  auto& field = next_field();
  field.name.assign(name);
  field.value.assign(value);
}

void Headers::set(std::string_view name, std::string value) {
  // Keep the position of the first occurrence so re-setting a field does not
  // reorder what is forwarded.
  auto named = [&](const Field& f) { return iequals(f.name, name); };
  auto first = std::find_if(fields_.begin(), live_end(), named);
  if (first == live_end()) return add(std::string(name), std::move(value));
  first->value = std::move(value);
  drop_from(std::remove_if(std::next(first), live_end(), named));
}

void Headers::set_copy(std::string_view name, std::string_view value) {
  auto named = [&](const Field& f) { return iequals(f.name, name); };
  auto first = std::find_if(fields_.begin(), live_end(), named);
  if (first == live_end()) return add_copy(name, value);
  first->value.assign(value);
  drop_from(std::remove_if(std::next(first), live_end(), named));
}

std::size_t Headers::remove(std::string_view name) {
  auto it = std::remove_if(fields_.begin(), live_end(), [&](const Field& f) { return iequals(f.name, name); });
  auto n = static_cast<std::size_t>(live_end() - it);
  drop_from(it);
  return n;
}

bool Headers::contains(std::string_view name) const noexcept {
  return std::any_of(begin(), end(), [&](const Field& f) { return iequals(f.name, name); });
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
  for (const auto& f : *this) {
    if (iequals(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

std::optional<std::string> Headers::get_combined(std::string_view name) const {
  std::string out;
  if (!append_combined(name, out)) return std::nullopt;
  return out;
}

bool Headers::append_combined(std::string_view name, std::string& out) const {
  bool found = false;
  for (const auto& f : *this) {
    if (!iequals(f.name, name)) continue;
    if (found) out.append(", ");
    out.append(f.value);
    found = true;
  }
  return found;
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const auto& f : *this) {
    if (found) break;
    if (!iequals(f.name, name)) continue;
    for_each_list_element(f.value, [&](std::string_view element) {
      if (iequals(element, token)) found = true;
    });
  }
  return found;
}

bool Headers::operator==(const Headers& other) const noexcept {
  return std::equal(begin(), end(), other.begin(), other.end());
}

// RFC 9110 §7.6.1 lists Connection, Proxy-Connection, Keep-Alive, TE,
// Transfer-Encoding and Upgrade; Trailer and the Proxy-Authenticate/
// Proxy-Authorization pair are per-hop too (RFC 2616 §13.5.1 and RFC 9110
// §11.7: proxy credentials are consumed by the proxy they address).
bool is_hop_by_hop(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 9> kHopByHop = {
      "Connection",          "Keep-Alive", "Proxy-Connection",
      "Proxy-Authenticate",  "Proxy-Authorization",
      "TE",                  "Trailer",    "Transfer-Encoding",
      "Upgrade",
  };
  return std::any_of(kHopByHop.begin(), kHopByHop.end(),
                     [&](std::string_view h) { return iequals(h, name); });
}

std::optional<std::uint64_t> content_length(const Headers& h) {
  auto v = h.get("Content-Length");
  if (!v) return std::nullopt;
  auto text = trim(*v);
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

void strip_hop_by_hop(Headers& headers) {
  // Collect the Connection-listed names first: removing Connection itself
  // would lose them (RFC 9110 §7.6.1).
  std::vector<std::string> listed;
  for (const auto& f : headers) {
    if (!iequals(f.name, "Connection")) continue;
    for_each_list_element(f.value, [&](std::string_view element) {
      listed.emplace_back(element);
    });
  }
  Headers kept;
  for (const auto& f : headers) {
    if (is_hop_by_hop(f.name)) continue;
    bool named = std::any_of(listed.begin(), listed.end(),
                             [&](const std::string& l) { return iequals(l, f.name); });
    if (named) continue;
    kept.add(f.name, f.value);
  }
  headers = std::move(kept);
}

bool is_tchar(char c) noexcept {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         extra.find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) noexcept {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

}  // namespace relay::http
