// TLS towards an https:// origin: one config::UpstreamTls put on a curl easy
// handle (CA file or directory, verification, SNI name, client certificate,
// minimum version), and how a TLS failure is told apart from the others.
// Used by Transfer for [upstream.tls]; written for any origin pool's `tls`.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <curl/curl.h>

#include "relay/config/config.hpp"

namespace relay::upstream {

struct SlistFree {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistFree>;

// Sets the TLS options of a transfer to `origin`; call it after
// CURLOPT_URL. Does nothing for an http:// origin.
//
// SNI: curl sends the URL's host as SNI and verifies the certificate
// against it, and has no option to name another. So with tls.sni naming
// another host, the transfer's URL is rewritten to scheme://sni:port/ and
// CURLOPT_CONNECT_TO maps sni:port back to the origin's real host and port.
// The request-target (CURLOPT_REQUEST_TARGET) and the Host header are set by
// relay explicitly, so neither changes. The returned list is that mapping:
// curl reads it during the transfer, so keep it until the handle is done
// (null when none is needed).
[[nodiscard]] Slist apply_tls(CURL* easy, const config::UpstreamTls& tls, const config::UpstreamUrl& origin);

// Whether a finished transfer failed at TLS (handshake, certificate, client
// certificate, CA file) rather than at connect, timeout or protocol. With
// TLS 1.3 an origin refuses a client certificate only after the client's
// side of the handshake is done, so curl sees a receive or send error:
// either its text (detail, curl's error buffer) names the alert received
// ("tlsv13 alert certificate required"), or the origin closed the
// connection between the handshake and the request, before a byte of it
// was sent. nullopt when it is not a TLS failure; else the reason to log:
// curl's words, with what they mean when they do not say it.
std::optional<std::string> tls_failure(CURL* easy, CURLcode code, std::string_view detail);

}  // namespace relay::upstream
