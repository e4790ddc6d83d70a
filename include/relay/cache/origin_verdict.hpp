// What the origin's answer means for the cache (RFC 9111 §3, §4.2.4, §4.3,
// RFC 5861, RFC 9213): the one place that decides between freshening the
// stored response, serving it stale on an error, storing the new one,
// sharing it with followers only, or passing it through, and which error
// status a failed origin becomes. Pure: no I/O, no clock of its own.
#pragma once

#include <optional>
#include <variant>

#include "relay/cache/facts.hpp"
#include "relay/cache/freshness.hpp"
#include "relay/http/headers.hpp"
#include "relay/util/result.hpp"

namespace relay::cache {

// The stored response a request found, if any.
struct StoredView {
  const ResponseFacts& facts;
  const http::Headers& headers;
  // Classification::stale_if_error of this request (RFC 5861 §4); false
  // when the stored response was not classified (background revalidation).
  bool usable_on_error = false;
};

struct OriginContext {
  const Policy* policy = nullptr;         // null: the cache is not involved (bypass, unsafe method)
  const RequestFacts* request = nullptr;  // required with a policy
  const StoredView* stored = nullptr;
  Seconds keep_time{0};  // [storage] keep_time: kept past usable staleness for cheap revalidation
};

// The origin's response head, already through prepare_head.
struct OriginResponse {
  const ResponseFacts& facts;
  const http::Headers& headers;
};
// Why no response came, in the terms the verdict needs.
enum class OriginFailure {
  Failed,      // unreachable, reset, protocol error
  Timeout,     // connect, first byte or idle timeout
  Overloaded,  // every origin connection stayed busy for upstream.queue_timeout
  ClientGone,  // the client left: nobody to answer
};
// Maps relay's upstream errors (Errc) to an OriginFailure. Defined in
// origin_failure.cpp, which links with the error category.
OriginFailure origin_failure(const error_code& error);
using OriginResult = std::variant<OriginFailure, OriginResponse>;

// §4.3.3, §4.3.4: a 304 to our validators; `fields` is the stored header
// block freshened by it, ready to write back.
struct Revalidated {
  http::Headers fields;
};
// RFC 5861 §4: the origin failed (nullopt: no response) and the stored
// response may be served instead.
struct StaleOnError {
  std::optional<int> origin_status;
};
// The origin failed and nothing stored may stand in: answer `status`.
struct OriginFailed {
  int status = 502;
};
// §3: store it (GET) and share it with followers.
struct Store {
  Seconds keep_for;  // fresh + usable stale + keep_time
  Seconds ttl;       // freshness lifetime, for Cache-Status
};
// Shareable with followers but too large to keep; the stored response it
// supersedes is outdated.
struct ShareOnly {
  Seconds ttl;
  bool drop_stored = false;
};
// Served to this client only. `refused` is the may_store verdict for a GET
// under a rule (nullopt: storing was never on the table: HEAD, unsafe
// method, bypass).
enum class StoredUpdate { Keep, Remove, Freshen };
struct PassThrough {
  std::optional<StoreDecision> refused;
  StoredUpdate stored = StoredUpdate::Keep;
  http::Headers fields;  // with StoredUpdate::Freshen: the freshened stored header block
};
using OriginVerdict = std::variant<Revalidated, StaleOnError, OriginFailed, Store, ShareOnly, PassThrough>;

OriginVerdict on_origin_response(const OriginContext& ctx, const OriginResult& origin);

// The status for an origin failure. RFC 9111 §5.2.2.2: a response that
// must be revalidated but cannot be gets a 504, like a timeout; every
// origin connection busy for upstream.queue_timeout means relay is the one
// overloaded: 503 (as haproxy/haproxy doc/configuration.txt gives for
// `timeout queue`); anything else is a bad gateway.
int origin_error_status(OriginFailure failure, bool stale_forbidden);

// §4.3.4: the stored header block after a 304 (or a matching HEAD, §4.3.5)
// from the origin: the fields a shared cache may keep replace theirs.
http::Headers freshened_fields(const http::Headers& stored, const http::Headers& update,
                               const ResponseFacts& update_facts, const Policy& policy);

}  // namespace relay::cache
