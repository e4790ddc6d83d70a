// relay's upstream errors in the origin verdict's terms, read from the
// error table (util/error_table.cpp) so the status an error maps to is
// written once. Apart from origin_verdict.cpp because the table lives with
// the logging code outside the pure library.
#include "relay/cache/origin_verdict.hpp"
#include "relay/util/error_table.hpp"

namespace relay::cache {

OriginFailure origin_failure(const error_code& error) {
  if (error == Errc::client_closed) return OriginFailure::ClientGone;
  const auto* row = error_info(error);
  if (!row) return OriginFailure::Failed;
  if (row->status == 504) return OriginFailure::Timeout;
  if (row->status == 503) return OriginFailure::Overloaded;
  return OriginFailure::Failed;
}

}  // namespace relay::cache
