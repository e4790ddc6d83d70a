// A connection of its own to the origin, outside curl's pool, for what
// curl cannot carry: a tunnel after 101 Switching Protocols needs the raw
// bytes both ways. Plain TCP for http:// origins; TLS for https:// ones,
// verifying the certificate against the system's CA store and the host name
// (SNI is sent), as curl does for ordinary requests.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "relay/config/config.hpp"
#include "relay/http/byte_stream.hpp"
#include "relay/util/result.hpp"

namespace relay::upstream {

struct RawConnectResult {
  std::unique_ptr<http::ByteStream> stream;  // null on failure
  error_code error;                          // upstream_connect_failed or upstream_timeout
  std::string detail;                        // why, for the log (resolver, socket or TLS words)
};

// Resolves and connects to the origin of `url` (scheme, host, port), TLS
// handshake included (with `tls`: its CAs, verification, SNI, client
// certificate and minimum version), all within `connect_timeout`.
boost::asio::awaitable<RawConnectResult> raw_connect(const config::UpstreamUrl& url,
                                                     config::Duration connect_timeout,
                                                     const config::UpstreamTls& tls);

}  // namespace relay::upstream
