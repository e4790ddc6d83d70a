// relay's upstream errors in the origin verdict's terms. Apart from
// origin_verdict.cpp because comparing with Errc needs relay's error
// category, which lives with the logging code outside the pure library.
#include "relay/cache/origin_verdict.hpp"

namespace relay::cache {

OriginFailure origin_failure(const error_code& error) {
  if (error == Errc::client_closed) return OriginFailure::ClientGone;
  if (error == Errc::upstream_timeout || error == Errc::upstream_first_byte_timeout ||
      error == Errc::upstream_idle_timeout) {
    return OriginFailure::Timeout;
  }
  if (error == Errc::upstream_queue_timeout) return OriginFailure::Overloaded;
  return OriginFailure::Failed;
}

}  // namespace relay::cache
