// Vary (RFC 9111 §4.1): the normalized list of request fields a response
// varies on, and the secondary key a request yields under that list. Two
// requests select the same stored variant exactly when their keys are equal.
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
std::vector<std::string> normalized_names(std::string_view list) {
  std::vector<std::string> names;
  http::for_each_list_element(list, [&](std::string_view element) {
    names.push_back(http::to_lower(element));
  });
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// RFC 9111 §4.1 allows normalizing nominated values when it is known not to
// change their meaning: OWS (RFC 9110 §5.6.3) around list commas and runs of
// it inside a value are not significant. Whitespace inside quoted strings is
// collapsed too; treating such rare values as equal only costs a variant.
// '%' and the key separator are escaped so a crafted value cannot forge the
// key of another combination of headers.
std::string normalize_value(std::string_view value) {
  value = http::trim(value);
  std::string out;
  out.reserve(value.size());
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
    if (pending_space && !out.empty() && out.back() != ',') out += ' ';
    pending_space = false;  // also drops the whitespace after a comma
    if (c == '%') {
      out += "%25";
    } else if (c == kSeparator) {
      out += "%1F";
    } else {
      out += c;
    }
  }
  return out;
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

std::optional<std::string> vary_key(const std::string& names, const http::Headers& request) {
  // The list is normalized again so a caller passing a raw Vary value still
  // gets an order-independent key.
  auto list = normalized_names(names);
  // RFC 9111 §4.1: Vary: * never matches a later request.
  if (std::find(list.begin(), list.end(), "*") != list.end()) return std::nullopt;
  std::string key;
  for (const auto& name : list) {
    if (!key.empty()) key += kSeparator;
    key += name;
    // An absent field and an empty one are different requests (RFC 9111
    // §4.1 compares presence too), so an absent one is the bare name with
    // no '='.
    if (auto value = request.get_combined(name)) {
      key += '=';
      key += normalize_value(*value);
    }
  }
  return key;
}

}  // namespace relay::cache
