// The error table (see error_table.hpp), relay's error category built on
// it, and the rate-limited warnings.
#include "relay/util/error_table.hpp"

#include <array>
#include <cassert>
#include <mutex>

#include "relay/util/rate_limit.hpp"

namespace relay {
namespace {

using S = ErrorSource;

struct Row {
  Errc code;
  ErrorInfo info;
};

// Statuses as the request path answers today: a timeout is a 504, a full
// origin pool a 503 (relay is the one overloaded), any other origin failure
// a 502. Labels are the reasons of relay_upstream_errors_total and
// relay_storage_errors_total.
constexpr std::array rows{
    Row{Errc::upstream_connect_failed, {S::origin, 502, "connect", true, "origin unreachable"}},
    Row{Errc::upstream_timeout, {S::origin, 504, "timeout", true, "origin timed out"}},
    Row{Errc::upstream_first_byte_timeout,
        {S::origin, 504, "timeout", true, "origin sent no response in time"}},
    Row{Errc::upstream_idle_timeout,
        {S::origin, 504, "timeout", true, "origin stalled while sending the body"}},
    Row{Errc::upstream_reset, {S::origin, 502, "reset", true, "origin closed the connection"}},
    Row{Errc::upstream_protocol, {S::origin, 502, "protocol", false, "origin sent an invalid response"}},
    Row{Errc::upstream_failed, {S::origin, 502, "other", false, "origin request failed"}},
    Row{Errc::client_closed, {S::client, 0, "client_closed", false, "client closed the connection"}},
    Row{Errc::client_timeout, {S::client, 408, "client_timeout", false, "client timed out"}},
    Row{Errc::bad_request, {S::client, 400, "bad_request", false, "bad request"}},
    Row{Errc::object_too_large, {S::storage, 0, "too_large", false, "object larger than max_object_size"}},
    Row{Errc::storage_unavailable, {S::storage, 0, "unavailable", true, "storage unavailable"}},
    Row{Errc::storage_corrupt, {S::storage, 0, "integrity", false, "stored body failed its integrity check"}},
    Row{Errc::upstream_queue_timeout,
        {S::internal, 503, "queue", true,
         "no origin connection free within upstream.queue_timeout (upstream.max_connections reached)"}},
    Row{Errc::upstream_transfer_coding,
        {S::origin, 502, "protocol", false, "origin response uses a transfer coding relay cannot decode"}},
    Row{Errc::upstream_tls, {S::origin, 502, "tls", false, "origin TLS handshake or certificate check failed"}},
    Row{Errc::request_body_too_large,
        {S::client, 413, "body_too_large", false, "request body larger than server.max_body_size"}},
};

// Rows are in Errc order, so a lookup is an index.
constexpr bool rows_in_order() {
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (static_cast<std::size_t>(rows[i].code) != i + 1) return false;
  return true;
}
static_assert(rows_in_order(), "error table rows must follow the order of Errc");

const ErrorInfo* find(int value) noexcept {
  if (value < 1 || static_cast<std::size_t>(value) > rows.size()) return nullptr;
  return &rows[static_cast<std::size_t>(value - 1)].info;
}

class RelayCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "relay"; }
  std::string message(int ev) const override {
    const auto* info = find(ev);
    return info ? std::string(info->message) : "unknown relay error";
  }
};

constexpr auto warning_interval = std::chrono::seconds(10);

}  // namespace

const boost::system::error_category& relay_category() noexcept {
  static const RelayCategory category;
  return category;
}

const ErrorInfo* error_info(const error_code& e) noexcept {
  return e.category() == relay_category() ? find(e.value()) : nullptr;
}

const ErrorInfo& error_info(Errc e) noexcept {
  const auto* info = find(static_cast<int>(e));
  assert(info != nullptr && "every Errc has a row");
  return *info;
}

std::string_view source_name(ErrorSource source) noexcept {
  switch (source) {
    case ErrorSource::client:
      return "client";
    case ErrorSource::origin:
      return "origin";
    case ErrorSource::storage:
      return "storage";
    case ErrorSource::internal:
      return "internal";
  }
  return "internal";
}

std::string problem_slug(const error_code& e) {
  const auto* info = error_info(e);
  if (!info) return "internal-error";
  std::string slug;
  if (info->status >= 500) {
    slug = "upstream-";
    slug.append(info->metric_label == "other" ? std::string_view("failed") : info->metric_label);
    return slug;
  }
  slug = info->metric_label;
  for (auto& c : slug)
    if (c == '_') c = '-';
  return slug;
}

namespace log {

void warn_limited(const error_code& kind, std::string_view message) {
  static std::mutex mutex;
  static RateLimiter limiter(warning_interval);
  RateLimiter::Verdict verdict;
  {
    std::lock_guard lock(mutex);
    verdict = limiter.admit(std::string(kind.category().name()) + ":" + std::to_string(kind.value()),
                            RateLimiter::clock::now());
  }
  if (!verdict.pass) return;
  if (verdict.suppressed == 0) return write(Level::warn, message);
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(verdict.since).count();
  std::ostringstream out;
  out << message << " (" << verdict.suppressed << " more like this in the last " << seconds << " s)";
  write(Level::warn, out.str());
}

}  // namespace log
}  // namespace relay
