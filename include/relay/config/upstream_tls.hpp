// TLS settings towards an origin ([upstream.tls] and each [[origins]]
// pool's tls table), apart from config.hpp because pools (gateway.hpp) hold
// them too.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::config {

enum class TlsVersion { V1_2, V1_3 };  // 1.2 | 1.3
std::string_view name_of(TlsVersion v) noexcept;

// TLS towards an https:// origin: [upstream.tls], and the same keys for
// every origin pool. Self-contained on purpose: validate_upstream_tls()
// checks one, upstream::apply_tls() (src/upstream/tls_options.cpp) puts one
// on a curl handle. Ignored for http:// origins.
struct UpstreamTls {
  std::string ca_file;      // PEM bundle trusted instead of the system CAs ("" = system CAs)
  std::string ca_path;      // directory of hashed certificates (openssl rehash), instead of the system CAs
  bool verify = true;       // check the origin's certificate chain AND its name; false: neither
  std::string sni;          // name sent as SNI and verified against; "" = the URL's host
  std::string client_cert;  // PEM client certificate (mTLS); may hold its key too
  std::string client_key;   // PEM private key of client_cert (unencrypted)
  TlsVersion min_version = TlsVersion::V1_2;

  bool operator==(const UpstreamTls&) const = default;
};

// What is wrong with an UpstreamTls: the key relative to its table
// ("ca_file"), for the caller to prefix ("upstream.tls.") and locate.
struct TlsProblem {
  std::string key;
  std::string message;
};
// Files must exist, be readable and hold PEM of the right kind (the check
// reads them now, so a typo fails at load, not at the first request);
// client_key needs client_cert; sni must be a DNS name.
std::optional<TlsProblem> validate_upstream_tls(const UpstreamTls& tls);
// Start-up warnings for a valid UpstreamTls (verify = false).
std::vector<std::string> upstream_tls_warnings(const UpstreamTls& tls);

}  // namespace relay::config
