// Expected failures are values: Result<T> carries a T or an error_code from
// relay's own category (or a system one). Exceptions are kept for start-up.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string_view>
#include <system_error>

namespace relay {

template <class T>
using Result = boost::system::result<T>;
using boost::system::error_code;

enum class Errc {
  upstream_connect_failed = 1,
  upstream_timeout,
  upstream_first_byte_timeout,
  upstream_idle_timeout,
  upstream_reset,
  upstream_protocol,
  upstream_failed,
  client_closed,
  client_timeout,
  bad_request,
  object_too_large,
  storage_unavailable,
  storage_corrupt,  // a stored body that no longer matches its hashes (dropped by the backend)
  // Every origin connection stayed busy for upstream.queue_timeout.
  upstream_queue_timeout,
  // The origin framed its body with a transfer coding other than chunked.
  upstream_transfer_coding,
  // TLS towards the origin failed: handshake, certificate, client certificate.
  upstream_tls,
  // The client's request body outgrew server.max_body_size (the limit in force for it).
  request_body_too_large,
};

const boost::system::error_category& relay_category() noexcept;

inline error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), relay_category()};
}

}  // namespace relay

template <>
struct boost::system::is_error_code_enum<relay::Errc> : std::true_type {};
