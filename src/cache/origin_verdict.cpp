// The origin verdict: one function from (stored, request, origin answer,
// policy) to what the cache does. Order matters and is RFC order: a 304 to
// our own validators first (§4.3.3), then stale-if-error (RFC 5861 §4),
// then the HEAD rule (§4.3.5), then storing (§3). Storing is decided for
// GET only: a HEAD response has no body to keep.
#include "relay/cache/origin_verdict.hpp"

#include "relay/cache/policy.hpp"
#include "relay/cache/validation.hpp"
#include "relay/util/time.hpp"

namespace relay::cache {

namespace {

// RFC 5861 §4: the origin errors that stale-if-error covers.
bool stale_if_error_status(int status) noexcept {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

// RFC 9111 §4.3.5: a HEAD response describes the stored representation when
// it carries the same strong validator (ETag, else Last-Modified), or, with
// no validators stored, the same Content-Length.
bool head_matches(const http::Headers& stored, const http::Headers& head) {
  auto same = [&](std::string_view name) {
    auto a = stored.get(name);
    auto b = head.get(name);
    return a && b && *a == *b;
  };
  const bool has_etag = stored.contains("etag");
  if (has_etag || stored.contains("last-modified")) {
    return same("etag") || (!has_etag && same("last-modified"));
  }
  return same("content-length");
}

// How long storage should keep a response: fresh, then usable stale (the
// longer RFC 5861 window), then keep_time to still be revalidated cheaply.
// Saturating: a lifetime reaching past what the clock holds keeps the entry
// "forever", not a negative time.
Seconds keep_for(const ResponseFacts& response, const Policy& policy, Seconds lifetime, Seconds keep_time) {
  const Seconds stale =
      std::max(stale_while_revalidate_window(response, policy), stale_if_error_window(response, policy));
  return saturating_sum(saturating_sum(lifetime, stale), keep_time);
}

PassThrough head_rule(const OriginContext& ctx, const OriginResponse& head) {
  PassThrough out;
  if (!ctx.stored || head.facts.status != 200) return out;
  if (!head_matches(ctx.stored->headers, head.headers)) {
    out.stored = StoredUpdate::Remove;
    return out;
  }
  out.stored = StoredUpdate::Freshen;
  out.fields = freshened_fields(ctx.stored->headers, head.headers, head.facts, *ctx.policy);
  return out;
}

OriginVerdict store_rule(const OriginContext& ctx, const OriginResponse& response) {
  const Policy& policy = *ctx.policy;
  const StoreDecision decision = may_store(*ctx.request, response.facts, policy);
  // A final answer that is not kept makes the stored one outdated; an
  // error keeps it for stale-if-error.
  const bool drop_stored = ctx.stored && response.facts.status < 500;
  if (decision == StoreDecision::Store || decision == StoreDecision::TooLarge) {
    const Seconds ttl = freshness_lifetime(response.facts, policy);
    if (decision == StoreDecision::TooLarge) return ShareOnly{ttl, drop_stored};
    return Store{keep_for(response.facts, policy, ttl, ctx.keep_time), ttl};
  }
  return PassThrough{decision, drop_stored ? StoredUpdate::Remove : StoredUpdate::Keep, {}};
}

}  // namespace

int origin_error_status(OriginFailure failure, bool stale_forbidden) {
  if (stale_forbidden || failure == OriginFailure::Timeout) return 504;
  return failure == OriginFailure::Overloaded ? 503 : 502;
}

http::Headers freshened_fields(const http::Headers& stored, const http::Headers& update,
                               const ResponseFacts& update_facts, const Policy& policy) {
  return freshen(stored, storable_fields(update, update_facts.cc, policy));
}

OriginVerdict on_origin_response(const OriginContext& ctx, const OriginResult& origin) {
  const StoredView* stored = ctx.stored;
  const bool usable_on_error = stored && stored->usable_on_error;
  if (const auto* failure = std::get_if<OriginFailure>(&origin)) {
    // A client that left wants no stale copy and no error page.
    if (usable_on_error && *failure != OriginFailure::ClientGone) return StaleOnError{};
    return OriginFailed{origin_error_status(*failure, stored && stale_forbidden(stored->facts))};
  }
  const auto& response = std::get<OriginResponse>(origin);
  const int status = response.facts.status;
  if (ctx.policy && stored && status == 304 && stored->facts.has_validators()) {
    return Revalidated{freshened_fields(stored->headers, response.headers, response.facts, *ctx.policy)};
  }
  if (usable_on_error && stale_if_error_status(status)) return StaleOnError{status};
  if (!ctx.policy) return PassThrough{};
  if (ctx.request->method == "HEAD") return head_rule(ctx, response);
  if (ctx.request->method != "GET") return PassThrough{};
  return store_rule(ctx, response);
}

}  // namespace relay::cache
