// Validation (RFC 9111 §4.3): the conditional request the relay sends to the
// origin, how a 304 freshens the stored header block, and how a client's own
// conditional request is answered from the cache without the origin.
#include "relay/cache/validation.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/cache/freshness.hpp"

namespace relay::cache {

namespace {

// Fields that describe the stored body. A 304 has no body, so its values for
// these describe nothing we hold and must never overwrite ours (RFC 9111
// §4.3.4); for the same reason they are left out of a 304 we send
// (RFC 9110 §15.4.5).
bool is_body_describing(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 5> kBodyFields = {
      "Content-Length", "Content-Encoding", "Content-Type", "Content-Range",
      "Transfer-Encoding",
  };
  return std::any_of(kBodyFields.begin(), kBodyFields.end(),
                     [&](std::string_view f) { return http::iequals(f, name); });
}

// RFC 9110 §13.1.2: If-None-Match matches when any listed tag equals the
// stored one under weak comparison, or when it is "*" (the cache does hold
// a current representation).
bool if_none_match_matches(std::string_view header, const http::Headers& stored) {
  if (http::trim(header) == "*") return true;
  auto stored_etag = stored.get("ETag");
  if (!stored_etag) return false;
  auto current = parse_entity_tag(*stored_etag);
  if (!current) return false;
  bool matched = false;
  http::for_each_list_element(header, [&](std::string_view element) {
    auto tag = parse_entity_tag(element);
    if (tag && tag->opaque == current->opaque) matched = true;
  });
  return matched;
}

// RFC 9110 §13.1.3: true when the stored response has not been modified
// since the given date. The cache's notion of "last modified" is the stored
// Last-Modified, else the stored Date (RFC 9111 §4.3.2).
bool not_modified_since(std::string_view header, const http::Headers& stored) {
  auto since = parse_http_date(http::trim(header));
  if (!since) return false;  // an invalid date is ignored: no 304
  std::optional<SysTime> modified;
  if (auto lm = stored.get("Last-Modified")) modified = parse_http_date(http::trim(*lm));
  if (!modified) {
    if (auto date = stored.get("Date")) modified = parse_http_date(http::trim(*date));
  }
  return modified && *modified <= *since;
}

}  // namespace

// entity-tag = [ weak ] opaque-tag (RFC 9110 §8.8.3). A value without the
// quotes is not an entity-tag and must never match one.
std::optional<EntityTag> parse_entity_tag(std::string_view text) noexcept {
  text = http::trim(text);
  EntityTag tag;
  if (text.starts_with("W/")) {
    tag.weak = true;
    text.remove_prefix(2);
  }
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
  // etagc excludes DQUOTE: no escaping inside an opaque-tag.
  if (text.substr(1, text.size() - 2).find('"') != std::string_view::npos) return std::nullopt;
  tag.opaque = text;
  return tag;
}

http::Headers validators_for(const http::Headers& stored) {
  http::Headers out;
  // RFC 9111 §4.3.1: the stored ETag is sent back verbatim; the origin does
  // the comparison.
  if (auto etag = stored.get("ETag"); etag && !http::trim(*etag).empty()) {
    out.add("If-None-Match", std::string(http::trim(*etag)));
  }
  // A Last-Modified that is not an HTTP-date would make the origin ignore
  // the field anyway (RFC 9110 §13.1.3), so it is not sent.
  if (auto lm = stored.get("Last-Modified"); lm && parse_http_date(http::trim(*lm))) {
    out.add("If-Modified-Since", std::string(http::trim(*lm)));
  }
  return out;
}

http::Headers freshen(const http::Headers& stored, const http::Headers& not_modified) {
  // Fields named in the 304's Connection are per-hop too (RFC 9110 §7.6.1).
  std::vector<std::string> connection_listed;
  for (const auto& f : not_modified) {
    if (!http::iequals(f.name, "Connection")) continue;
    http::for_each_list_element(f.value, [&](std::string_view element) {
      connection_listed.emplace_back(element);
    });
  }
  auto usable = [&](std::string_view name) {
    if (is_body_describing(name) || http::is_hop_by_hop(name)) return false;
    return std::none_of(connection_listed.begin(), connection_listed.end(),
                        [&](const std::string& l) { return http::iequals(l, name); });
  };

  // RFC 9111 §4.3.4: every field in the 304 replaces all stored fields of
  // that name. Untouched stored fields keep their order; replacements go at
  // the end in the 304's order.
  http::Headers out;
  for (const auto& f : stored) {
    if (usable(f.name) && not_modified.contains(f.name)) continue;
    out.add(f.name, f.value);
  }
  for (const auto& f : not_modified) {
    if (usable(f.name)) out.add(f.name, f.value);
  }
  return out;
}

bool answer_not_modified(const http::Headers& request, const http::Headers& stored,
                         int stored_status) {
  // Only a stored 200 stands for "the selected representation"; a 304 for
  // anything else would tell the client to reuse a body it may not have.
  if (stored_status != 200) return false;
  // RFC 9110 §13.2.2: If-None-Match is evaluated first, and when present
  // If-Modified-Since is ignored (§13.1.3).
  if (auto inm = request.get_combined("If-None-Match")) {
    return if_none_match_matches(*inm, stored);
  }
  // More than one If-Modified-Since line is not a valid HTTP-date once
  // combined, and is ignored like any other invalid value (§13.1.3).
  if (auto ims = request.get_combined("If-Modified-Since")) {
    return not_modified_since(*ims, stored);
  }
  return false;
}

http::Headers not_modified_fields(const http::Headers& stored) {
  // RFC 9110 §15.4.5: a 304 carries what a 200 would have (Cache-Control,
  // Content-Location, Date, ETag, Expires, Vary, ...) but nothing about a
  // body it does not have.
  http::Headers out;
  for (const auto& f : stored) {
    if (!is_body_describing(f.name)) out.add(f.name, f.value);
  }
  return out;
}

}  // namespace relay::cache
