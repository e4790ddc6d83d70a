// Response and request field values: the input is one field value, given to
// every parser relay has for one: Cache-Control (request and response),
// RFC 9213 targeted fields (Structured Fields dictionaries), Vary, HTTP-date,
// Range with If-Range, Content-Length, entity tags and conditional requests,
// and the response facts and freshness built from all of them together.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/cache/cache_control.hpp"
#include "relay/cache/facts.hpp"
#include "relay/cache/freshness.hpp"
#include "relay/cache/range.hpp"
#include "relay/cache/structured_field.hpp"
#include "relay/cache/validation.hpp"
#include "relay/cache/vary.hpp"
#include "relay/http/headers.hpp"

using namespace relay;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) return 0;
  const std::string value(reinterpret_cast<const char*>(data), size);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

  (void)cache::parse_cache_control(value);
  (void)cache::parse_delta_seconds(value);
  (void)cache::sf::parse_dictionary(value);
  (void)cache::parse_http_date(value);
  (void)cache::parse_http_date(value, now);
  (void)cache::parse_entity_tag(value);

  // The same value in every field it could arrive in, at once.
  http::Headers response;
  for (const char* name : {"Cache-Control", "CDN-Cache-Control", "Surrogate-Control", "Expires", "Date",
                           "Last-Modified", "ETag", "Vary", "Content-Length", "Age", "Pragma"}) {
    response.add(name, value);
  }
  http::Headers request;
  for (const char* name : {"Cache-Control", "Pragma", "Range", "If-Range", "If-None-Match", "If-Match",
                           "If-Modified-Since", "If-Unmodified-Since", "Accept-Encoding"}) {
    request.add(name, value);
  }
  (void)http::content_length(response);
  const std::vector<std::string> targeted = {"CDN-Cache-Control", "Surrogate-Control"};
  const auto facts = cache::response_facts(200, response, targeted, now);
  const auto request_facts = cache::request_facts("GET", request);
  (void)request_facts;
  cache::Policy policy;
  policy.default_ttl = std::chrono::seconds(60);
  policy.heuristic_max = std::chrono::seconds(86400);
  (void)cache::freshness_lifetime(facts, policy);
  (void)cache::current_age(facts, now, now, now);

  const auto names = cache::vary_names(response);
  (void)cache::vary_key(names, request);
  (void)cache::variant_for(names, request);

  for (std::uint64_t stored_size : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}}) {
    (void)cache::evaluate_range(request, response, stored_size);
  }
  (void)cache::strong_validator(response);
  (void)cache::answer_not_modified(request, response, 200);
  (void)cache::validators_for(response);
  (void)cache::freshen(response, request);
  return 0;
}
