// Parses the facts the cache rules read, once per message. The readings
// here are the only ones: Pragma folds into request no-cache only without
// Cache-Control (RFC 9111 §5.4); a targeted field replaces Cache-Control and
// Expires (RFC 9213 §2.2); the first valid Age wins and junk counts as
// absent (§5.1); an unparsable date is absent.
#include "relay/cache/facts.hpp"

#include <algorithm>

#include "relay/cache/validation.hpp"

namespace relay::cache {

namespace {

std::optional<SysTime> date_field(const http::Headers& h, std::string_view name, SysTime now) {
  auto text = h.get(name);
  return text ? parse_http_date(*text, now) : std::nullopt;
}

std::optional<std::int64_t> first_age(const http::Headers& h) {
  std::optional<std::int64_t> age;
  for (const auto& f : h) {
    if (age || !http::iequals(f.name, "Age")) continue;
    http::for_each_list_element(f.value, [&](std::string_view v) {
      if (!age) age = parse_delta_seconds(v);
    });
  }
  return age;
}

}  // namespace

bool is_set_cookie(std::string_view field_name) noexcept {
  return http::iequals(field_name, "Set-Cookie") || http::iequals(field_name, "Set-Cookie2");
}

void ignore_client_revalidation(RequestFacts& request) noexcept {
  request.cc.no_cache = false;
  request.cc.no_cache_fields.clear();
  request.cc.max_age.reset();
  request.cc.min_fresh.reset();
}

RequestFacts request_facts(std::string_view method, const http::Headers& headers) {
  RequestFacts out;
  out.method = std::string(method);
  out.cc = parse_cache_control(headers);
  if (!headers.contains("Cache-Control") && headers.has_token("Pragma", "no-cache")) {
    out.cc.no_cache = true;
  }
  out.has_authorization = headers.contains("Authorization");
  out.has_cookie = headers.contains("Cookie");
  return out;
}

ResponseFacts response_facts(int status, const http::Headers& headers,
                             const std::vector<std::string>& targeted_fields, SysTime now) {
  ResponseFacts out;
  out.status = status;
  out.cc = effective_cache_control(headers, targeted_fields, &out.targeted);
  if (auto text = headers.get("Expires")) {
    out.has_expires = true;
    out.expires = parse_http_date(*text, now);
  }
  out.date = date_field(headers, "Date", now);
  out.last_modified = date_field(headers, "Last-Modified", now);
  out.age = first_age(headers);
  if (auto etag = headers.get("ETag"); etag && !http::trim(*etag).empty()) {
    out.has_etag = true;
    auto parsed = parse_entity_tag(http::trim(*etag));
    out.weak_etag = parsed && parsed->weak;
  }
  out.vary_star = headers.has_token("Vary", "*");
  out.content_length = http::content_length(headers);
  out.set_cookie =
      std::any_of(headers.begin(), headers.end(), [](const http::Field& f) { return is_set_cookie(f.name); });
  return out;
}

bool ResponseFacts::explicit_freshness() const noexcept {
  return cc.s_maxage || cc.max_age || (!targeted && has_expires);
}

bool ResponseFacts::has_validators() const noexcept {
  return has_etag || last_modified.has_value();
}

}  // namespace relay::cache
