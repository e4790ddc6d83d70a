// Vary (RFC 9111 §4.1): the normalized list of request fields a response
// varies on, and the secondary key a request yields under that list. Two
// requests select the same stored variant exactly when their keys are equal.
//
// §4.1 lets a cache normalize nominated values "when it is known not to
// change their meaning". Every field gets whitespace normalization; the
// preference lists Accept-Encoding and Accept-Language also get case
// folding and a canonical order (see normalize_preferences).
#include "relay/cache/vary.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace relay::cache {

namespace {

constexpr char kSeparator = '\x1f';

// Split, trimmed, lower-cased, sorted and de-duplicated field names. Field
// names are case-insensitive (RFC 9110 §5.1) and the order of names in Vary
// carries no meaning, so neither may split the cache.
void normalize_names(std::string_view list, std::vector<std::string>& names) {
  std::size_t n = 0;
  http::for_each_list_element(list, [&](std::string_view element) {
    if (n == names.size()) names.emplace_back();
    auto& name = names[n++];
    name.assign(element);  // into the buffer the slot kept
    for (auto& c : name) c = http::ascii_lower(c);
  });
  names.resize(n);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

std::vector<std::string> normalized_names(std::string_view list) {
  std::vector<std::string> names;
  normalize_names(list, names);
  return names;
}

// qvalue (RFC 9110 §12.4.2) in thousandths: "0" ["." 0*3DIGIT] or
// "1" ["." 0*3"0"].
std::optional<int> parse_qvalue(std::string_view text) noexcept {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  int q = (text[0] - '0') * 1000;
  if (text.size() == 1) return q;
  if (text[1] != '.' || text.size() > 5) return std::nullopt;
  int scale = 100;
  for (char c : text.substr(2)) {
    if (c < '0' || c > '9' || (q == 1000 && c != '0')) return std::nullopt;
    q += (c - '0') * scale;
    scale /= 10;
  }
  return q;
}

// Accept-Encoding and Accept-Language (RFC 9110 §12.5.3, §12.5.4) are lists
// of case-insensitive tokens (content-codings, language ranges), each with
// an optional weight ";q=". Their canonical form lower-cases the tokens,
// drops q=1 and whitespace, and orders the elements by descending q, then
// alphabetically: so "en, de", "EN,DE" and "de;q=1, en" share a variant,
// while "en;q=0.5, de" (a different preference) does not share it with
// "en, de".
//
// The alphabetical tie-break is a deliberate choice. RFC 9110 defines
// preference by weight only and gives elements of equal weight no order;
// an origin that does break ties by position could serve "en, de" and
// "de, en" differently, and relay would then answer one with the other's
// variant. Caches that split on every byte order instead store one copy per
// browser's header spelling. A value outside this grammar (a parameter other
// than q, a quoted string, a bad qvalue) keeps the plain normalization, so
// it is never merged with anything it might differ from.
bool less_folded(std::string_view a, std::string_view b) noexcept {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return http::ascii_lower(x) < http::ascii_lower(y); });
}

// Appends the canonical form; false (out unchanged) when the value is not
// such a list. Tokens are compared and written case-folded, straight from
// the value: no string per element.
bool append_preferences(std::string& out, std::string_view value) {
  struct Preference {
    std::string_view token;
    int q;
  };
  thread_local std::vector<Preference> prefs;  // kept for its capacity
  prefs.clear();
  bool valid = true;
  http::for_each_list_element(value, [&](std::string_view element) {
    if (!valid) return;
    const auto semi = element.find(';');
    const auto token = http::trim(element.substr(0, semi));
    int q = 1000;
    if (semi != std::string_view::npos) {
      // weight = OWS ";" OWS "q=" qvalue; "q" is case-insensitive.
      const auto weight = http::trim(element.substr(semi + 1));
      std::optional<int> parsed;
      if (weight.size() > 2 && (weight[0] == 'q' || weight[0] == 'Q') && weight[1] == '=') {
        parsed = parse_qvalue(weight.substr(2));
      }
      if (!parsed) {
        valid = false;
        return;
      }
      q = *parsed;
    }
    if (!http::is_token(token)) {
      valid = false;
      return;
    }
    prefs.push_back({token, q});
  });
  if (!valid) return false;
  std::sort(prefs.begin(), prefs.end(), [](const Preference& a, const Preference& b) {
    return a.q != b.q ? a.q > b.q : less_folded(a.token, b.token);
  });
  prefs.erase(std::unique(prefs.begin(), prefs.end(),
                          [](const Preference& a, const Preference& b) {
                            return a.q == b.q && http::iequals(a.token, b.token);
                          }),
              prefs.end());
  bool first = true;
  for (const auto& p : prefs) {
    if (!first) out += ',';
    first = false;
    for (char c : p.token) out += http::ascii_lower(c);
    if (p.q == 1000) continue;
    out += ";q=0";
    if (p.q == 0) continue;
    // Three digits of thousandths, trailing zeros dropped.
    char digits[3] = {static_cast<char>('0' + p.q / 100), static_cast<char>('0' + p.q / 10 % 10),
                      static_cast<char>('0' + p.q % 10)};
    std::size_t length = 3;
    while (digits[length - 1] == '0') --length;
    out += '.';
    out.append(digits, length);
  }
  return true;
}

// RFC 9111 §4.1 allows normalizing nominated values when it is known not to
// change their meaning: OWS (RFC 9110 §5.6.3) around list commas and runs of
// it inside a value are not significant. Whitespace inside quoted strings is
// collapsed too; treating such rare values as equal only costs a variant.
// '%' and the key separator are escaped so a crafted value cannot forge the
// key of another combination of headers.
void append_normalized_value(std::string& out, std::string_view value) {
  value = http::trim(value);
  const auto start = out.size();
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = true;
      continue;
    }
    if (c == ',') {
      pending_space = false;  // drops the whitespace before the comma
      out += ',';
      continue;
    }
    if (pending_space && out.size() > start && out.back() != ',') out += ' ';
    pending_space = false;  // also drops the whitespace after a comma
    if (c == '%') {
      out += "%25";
    } else if (c == kSeparator) {
      out += "%1F";
    } else {
      out += c;
    }
  }
}

}  // namespace

std::string vary_names(const http::Headers& response) {
  auto vary = response.get_combined("Vary");
  if (!vary) return {};
  auto names = normalized_names(*vary);
  // "*" anywhere means the response varies on things outside the request
  // (RFC 9110 §12.5.5): no other name matters.
  if (std::find(names.begin(), names.end(), "*") != names.end()) return "*";
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

bool append_vary_key(std::string& out, std::string_view names, const http::Headers& request) {
  // The list is normalized again so a caller passing a raw Vary value still
  // gets an order-independent key. Scratch kept per thread for its buffers:
  // a hit on a variant builds its key without allocating.
  thread_local std::vector<std::string> list;
  thread_local std::string value;
  thread_local std::string canonical;
  normalize_names(names, list);
  // RFC 9111 §4.1: Vary: * never matches a later request.
  if (std::find(list.begin(), list.end(), "*") != list.end()) return false;
  bool first = true;
  for (const auto& name : list) {
    if (!first) out += kSeparator;
    first = false;
    out += name;
    // An absent field and an empty one are different requests (RFC 9111
    // §4.1 compares presence too), so an absent one is the bare name with
    // no '='.
    value.clear();
    if (request.append_combined(name, value)) {
      out += '=';
      canonical.clear();
      const bool preferences = (name == "accept-encoding" || name == "accept-language") &&
                               append_preferences(canonical, value);
      append_normalized_value(out, preferences ? canonical : value);
    }
  }
  return true;
}

std::optional<std::string> vary_key(const std::string& names, const http::Headers& request) {
  std::string key;
  if (!append_vary_key(key, names, request)) return std::nullopt;
  return key;
}

std::string variant_for(const std::string& names, const http::Headers& request) {
  return names.empty() ? std::string() : vary_key(names, request).value_or("");
}

}  // namespace relay::cache
