// Puts a config::UpstreamTls on a curl easy handle (see tls_options.hpp).
// The handle was curl_easy_reset() before, so every option not set here has
// curl's default; the system CA bundle and directory are switched off
// whenever the configuration names its own trust, so a private CA is
// trusted alone rather than next to every public one.
#include "relay/upstream/tls_options.hpp"

#include <string>

namespace relay::upstream {
namespace {

// "host", or "[v6]" as URLs and CURLOPT_CONNECT_TO write IPv6 literals.
std::string url_host(const std::string& host) {
  if (host.find(':') == std::string::npos) return host;
  std::string out = "[";
  out.append(host).append("]");
  return out;
}

// The userinfo of an authority ("user:pass@"), kept when the host changes.
std::string userinfo(const std::string& authority) {
  const auto at = authority.rfind('@');
  return at == std::string::npos ? std::string() : authority.substr(0, at + 1);
}

Slist route_through_sni(CURL* easy, const std::string& sni, const config::UpstreamUrl& origin) {
  const std::string port = std::to_string(origin.port);
  std::string url = origin.scheme;
  url.append("://").append(userinfo(origin.authority)).append(sni).append(":").append(port).append("/");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());  // curl copies it
  std::string mapping = sni;
  mapping.append(":").append(port).append(":").append(url_host(origin.host)).append(":").append(port);
  Slist list(curl_slist_append(nullptr, mapping.c_str()));
  curl_easy_setopt(easy, CURLOPT_CONNECT_TO, list.get());
  return list;
}

// A new TLS connection closed by the origin after our handshake finished
// and before the request went out: the origin refused the session (a TLS
// 1.3 client certificate check), not a request. A reused connection has no
// handshake time; a reset during the handshake fails as CURLE_SSL_CONNECT_ERROR.
bool closed_after_handshake(CURL* easy) noexcept {
  curl_off_t handshake_done = 0;
  long request_bytes = 0;
  return curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &handshake_done) == CURLE_OK && handshake_done > 0 &&
         curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_bytes) == CURLE_OK && request_bytes == 0;
}

}  // namespace

Slist apply_tls(CURL* easy, const config::UpstreamTls& tls, const config::UpstreamUrl& origin) {
  if (origin.scheme != "https") return nullptr;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, tls.verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, tls.verify ? 2L : 0L);
  if (!tls.ca_file.empty() || !tls.ca_path.empty()) {
    // NULL switches off the default bundle / directory (curl's documented reset).
    curl_easy_setopt(easy, CURLOPT_CAINFO, tls.ca_file.empty() ? nullptr : tls.ca_file.c_str());
    curl_easy_setopt(easy, CURLOPT_CAPATH, tls.ca_path.empty() ? nullptr : tls.ca_path.c_str());
  }
#if LIBCURL_VERSION_NUM >= 0x075700
  // curl keeps a parsed CA store per multi handle for 24 h by default, keyed
  // by the file's name: a bundle replaced in place would go unnoticed for a
  // day. A minute costs one parse per minute per event loop.
  curl_easy_setopt(easy, CURLOPT_CA_CACHE_TIMEOUT, 60L);
#endif
  if (!tls.client_cert.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(easy, CURLOPT_SSLCERT, tls.client_cert.c_str());
    // Without a key file curl takes the key from the certificate's file.
    if (!tls.client_key.empty()) {
      curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
      curl_easy_setopt(easy, CURLOPT_SSLKEY, tls.client_key.c_str());
    }
  }
  const long version = tls.min_version == config::TlsVersion::V1_3 ? CURL_SSLVERSION_TLSv1_3 : CURL_SSLVERSION_TLSv1_2;
  curl_easy_setopt(easy, CURLOPT_SSLVERSION, version);
  if (tls.sni.empty() || tls.sni == origin.host) return nullptr;
  return route_through_sni(easy, tls.sni, origin);
}

std::optional<std::string> tls_failure(CURL* easy, CURLcode code, std::string_view detail) {
  switch (code) {
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR: {
      // OpenSSL names every alert it received "... alert <description>"; a
      // plain reset or EOF names none.
      if (detail.find(" alert ") != std::string_view::npos) return std::string(detail);
      if (!closed_after_handshake(easy)) return std::nullopt;
      std::string reason = "the origin closed the connection after the TLS handshake, before the request ";
      reason.append("(a client certificate refused?): ").append(detail);
      return reason;
    }
    case CURLE_SSL_CONNECT_ERROR:         // handshake failed: alert, version, cipher, client certificate refused
    case CURLE_PEER_FAILED_VERIFICATION:  // unknown CA, expired, name mismatch
    case CURLE_SSL_CERTPROBLEM:           // our client certificate or key could not be used
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:            // TLS 1.3: the origin wanted a client certificate
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
      return std::string(detail);
    default:
      return std::nullopt;
  }
}

}  // namespace relay::upstream
