// RateLimitPolicy (rate_limit_policy.hpp).
#include "relay/gateway/rate_limit_policy.hpp"

#include "relay/http/problem.hpp"

#include <cstdint>

#include "relay/gateway/rate_limit_fields.hpp"
#include "relay/util/log.hpp"

namespace relay::gateway {

namespace {

// Keys up to this size are kept as sent; longer ones (a header can be
// kilobytes) become a 64-bit FNV-1a digest, stable across processes so the
// fleet's instances agree on it.
constexpr std::size_t kMaxPlainKey = 64;

std::string bounded(std::string prefix, std::string_view value) {
  if (value.size() <= kMaxPlainKey) return prefix.append(value);
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : value) h = (h ^ ch) * 0x100000001b3ull;
  static constexpr char hex[] = "0123456789abcdef";
  prefix.append("#");
  for (int shift = 60; shift >= 0; shift -= 4) prefix += hex[(h >> shift) & 0xf];
  return prefix;
}

}  // namespace

std::string_view client_address(const http::Request& req) {
  return req.client_address;
}

RateLimitPolicy::RateLimitPolicy(const config::RateLimitConfig& limit, std::string route,
                                 RateLimiter* limiter)
    : limit_(limit), route_(std::move(route)), limiter_(limit.rate > 0 ? limiter : nullptr) {
  if (!limiter_) return;
  bucket_ = Bucket::of(limit_);
  policy_field_ = policy_field(route_, bucket_);
  counters_ = limiter_->counters(route_);
}

std::string RateLimitPolicy::key_for(const http::Request& req) const {
  switch (limit_.key) {
    case config::RateLimitConfig::Key::Route:
      return "r";
    case config::RateLimitConfig::Key::Header:
      if (auto value = req.headers.get(limit_.header); value && !value->empty()) return bounded("h:", *value);
      break;
    case config::RateLimitConfig::Key::Client:
      break;
  }
  return bounded("c:", client_address(req));
}

boost::asio::awaitable<Admission> RateLimitPolicy::admit(const http::Request& req) const {
  Admission admission;
  if (!limiter_) co_return admission;
  admission.limited = true;
  admission.decision = co_await limiter_->decide(route_, key_for(req), bucket_, limit_.fleet, counters_);
  admission.fields.add("RateLimit-Policy", policy_field_);
  admission.fields.add("RateLimit", ratelimit_field(route_, admission.decision));
  co_return admission;
}

// The one place a rate-limited request is answered.
boost::asio::awaitable<void> RateLimitPolicy::refuse(const http::Request& req, const Admission& admission,
                                                     http::ResponseSink& out) const {
  log::debug("rate limit \"", route_, "\": 429 for ", req.method, " ", req.target, " from ",
             client_address(req));
  http::Headers extra = admission.fields;
  const auto retry_after = retry_after_field(admission.decision);
  extra.add("Retry-After", retry_after);
  std::string detail = "too many requests under rate limit \"";
  detail.append(route_).append("\"; retry after ").append(retry_after).append(" s");
  co_await http::respond_problem(out, req, 429, "rate-limited", std::move(detail), std::move(extra));
}

}  // namespace relay::gateway
