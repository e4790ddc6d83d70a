// One row per relay error (Errc): who caused it, the status relay answers
// with when the error decides the response, its metric label, whether a
// retry may succeed, and the message operators read. The category's
// messages (result.hpp) come from here, so a new Errc needs one row.
// warn_for() is the rate-limited warning for errors that repeat per request
// (a dead Redis): the first of a kind is logged, then at most one line per
// interval carrying how many were left out.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "relay/util/log.hpp"
#include "relay/util/result.hpp"

namespace relay {

enum class ErrorSource { client, origin, storage, internal };

struct ErrorInfo {
  ErrorSource source;
  // 0: the error never decides the response (storage errors are a miss
  // plus a counter; a departed client gets nothing).
  int status;
  std::string_view metric_label;
  bool retryable;
  std::string_view message;
};

// The row of a relay error; nullptr for an error of another category.
const ErrorInfo* error_info(const error_code& e) noexcept;
const ErrorInfo& error_info(Errc e) noexcept;
std::string_view source_name(ErrorSource source) noexcept;
// The problem type (http/problem.hpp) of an answer this error decides:
// "upstream-<metric label>" for the 5xx ones ("upstream-connect",
// "upstream-timeout", "upstream-queue", ...; "other" is "upstream-failed"),
// the label with '-' for '_' otherwise, "internal-error" for an error of
// another category.
std::string problem_slug(const error_code& e);

namespace log {

// Writes `message` as a warning unless one of the same error kind was
// written within the last interval (10 s); the next one written after that
// says how many were left out.
void warn_limited(const error_code& kind, std::string_view message);

template <class... Parts>
void warn_for(const error_code& kind, const Parts&... parts) {
  if (!enabled(Level::warn)) return;
  std::ostringstream out;
  (out << ... << parts);
  warn_limited(kind, out.str());
}

}  // namespace log
}  // namespace relay
