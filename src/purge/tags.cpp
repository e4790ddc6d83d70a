// Tags from response fields. Several fields and several lines of one field
// add up; duplicates are kept once so the backends' tag indexes stay small.
#include "relay/purge/tags.hpp"

#include <algorithm>

namespace relay::purge {

namespace {

void add_tag(std::vector<std::string>& tags, std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength || tags.size() >= kMaxTags) return;
  if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.emplace_back(tag);
}

void split_into(std::vector<std::string>& tags, std::string_view value, std::string_view separators) {
  while (!value.empty()) {
    const auto end = value.find_first_of(separators);
    add_tag(tags, http::trim(value.substr(0, end)));
    if (end == std::string_view::npos) break;
    value.remove_prefix(end + 1);
  }
}

}  // namespace

std::vector<std::string> response_tags(const http::Headers& response, const std::vector<std::string>& tag_headers) {
  std::vector<std::string> tags;
  for (const auto& field : response) {
    for (const auto& name : tag_headers) {
      if (!http::iequals(field.name, name)) continue;
      split_into(tags, field.value, http::iequals(name, "surrogate-key") ? std::string_view(" \t") : ",");
    }
  }
  return tags;
}

void strip_tag_fields(http::Headers& response, const std::vector<std::string>& tag_headers) {
  for (const auto& name : tag_headers) response.remove(name);
}

bool valid_tag(std::string_view tag) noexcept {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  return std::all_of(tag.begin(), tag.end(), [](char c) { return c > 0x20 && c < 0x7f && c != ','; });
}

}  // namespace relay::purge
