// Header field storage and the small string helpers every HTTP component
// shares. Field names compare case-insensitively (RFC 9110 §5.1); values are
// kept byte-for-byte because a proxy forwards what it received.
#include "relay/http/headers.hpp"

#include <algorithm>
#include <array>

namespace relay::http {

namespace {

// ASCII only: field names are tokens, and locale-aware tolower would make
// lookups depend on the process locale.
constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

// OWS is only space and horizontal tab (RFC 9110 §5.6.3).
std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Built in place, then filled: clang 15 has no parenthesised aggregate init.
void Headers::add(std::string name, std::string value) {
  auto& field = fields_.emplace_back();
  field.name = std::move(name);
  field.value = std::move(value);
}

void Headers::set(std::string_view name, std::string value) {
  // Keep the position of the first occurrence so re-setting a field does not
  // reorder what is forwarded.
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&](const Field& f) { return iequals(f.name, name); });
  if (first == fields_.end()) {
    fields_.push_back(Field{std::string(name), std::move(value)});
    return;
  }
  first->value = std::move(value);
  auto rest = std::remove_if(std::next(first), fields_.end(),
                             [&](const Field& f) { return iequals(f.name, name); });
  fields_.erase(rest, fields_.end());
}

std::size_t Headers::remove(std::string_view name) {
  auto it = std::remove_if(fields_.begin(), fields_.end(),
                           [&](const Field& f) { return iequals(f.name, name); });
  auto n = static_cast<std::size_t>(std::distance(it, fields_.end()));
  fields_.erase(it, fields_.end());
  return n;
}

bool Headers::contains(std::string_view name) const noexcept {
  return std::any_of(fields_.begin(), fields_.end(),
                     [&](const Field& f) { return iequals(f.name, name); });
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

std::optional<std::string> Headers::get_combined(std::string_view name) const {
  std::optional<std::string> out;
  for (const auto& f : fields_) {
    if (!iequals(f.name, name)) continue;
    if (!out) {
      out.emplace(f.value);
    } else {
      out->append(", ");
      out->append(f.value);
    }
  }
  return out;
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const auto& f : fields_) {
    if (found) break;
    if (!iequals(f.name, name)) continue;
    for_each_list_element(f.value, [&](std::string_view element) {
      if (iequals(element, token)) found = true;
    });
  }
  return found;
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
