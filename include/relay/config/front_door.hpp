// The client side's protocols: [server.tls] (TLS termination on a listener
// of its own) and [server.http2] (HTTP/2 downstream, over TLS by ALPN and,
// with server.h2c, in cleartext with prior knowledge). Apart from
// config.hpp because server/ builds its TLS contexts and HTTP/2 sessions
// from these alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/upstream_tls.hpp"

namespace relay::config {

// One certificate chain and its private key (PEM files). The first of
// server.tls.certificates is the default; the others are chosen by SNI from
// the names in their certificates (subjectAltName DNS entries, wildcards
// included; the subject CN when there is no DNS entry).
struct TlsCertificate {
  std::string cert;  // PEM chain: the leaf first, then intermediates
  std::string key;   // PEM private key (unencrypted)
  int line = 0;      // where it is written, for messages (0: environment)

  bool operator==(const TlsCertificate&) const = default;
};

// [server.tls]: a TLS listener beside server.listen (say :443 beside :80).
// Off while listen is empty. Certificates are read again on every reload
// (SIGHUP, POST /reload) and used for connections accepted from then on;
// open connections keep theirs. listen itself is restart-only.
struct ServerTls {
  std::string listen;                          // host:port; "" = no TLS listener
  std::vector<TlsCertificate> certificates;    // at least one when listen is set
  TlsVersion min_version = TlsVersion::V1_2;   // TLS 1.2 and 1.3 by default
  // TLS 1.2 cipher list, OpenSSL syntax; Mozilla "intermediate" by default.
  // (TLS 1.3 suites are OpenSSL's defaults, all of them AEAD.)
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
      "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
  bool http2 = true;                           // offer h2 in ALPN (else http/1.1 only)
  std::chrono::milliseconds handshake_timeout{10'000};
  // Session resumption by tickets (RFC 5077 / TLS 1.3 PSK). The ticket key
  // rotates every ticket_key_rotation; a ticket stays valid for two
  // rotations. Keys live in memory only, shared by every thread and kept
  // across reloads.
  bool session_tickets = true;
  std::chrono::milliseconds ticket_key_rotation{3'600'000};

  bool enabled() const noexcept { return !listen.empty(); }
  bool operator==(const ServerTls&) const = default;
};

// [server.http2]: limits of HTTP/2 connections (both TLS h2 and h2c). The
// header list limit is server.max_header_size, the idle timeout
// server.idle_timeout, as for HTTP/1.1.
struct Http2Config {
  std::uint32_t max_concurrent_streams = 128;
  // Flow-control window per stream for request bodies: how much a client
  // may send ahead of what the origin has taken.
  std::uint32_t initial_window_size = 256 * 1024;
  // A connection with open streams and nothing received for ping_interval
  // gets a PING; no answer within ping_timeout closes it.
  std::chrono::milliseconds ping_interval{30'000};
  std::chrono::milliseconds ping_timeout{10'000};
  // Rapid reset (CVE-2023-44487): streams a client may cancel, as a token
  // bucket (burst, refilled per second); past it the connection gets
  // GOAWAY ENHANCE_YOUR_CALM and closes.
  std::uint64_t max_resets_burst = 1000;
  std::uint64_t max_resets_per_second = 33;
  // CONTINUATION flood (2024): frames allowed to continue one header block.
  std::uint64_t max_continuations = 8;

  bool operator==(const Http2Config&) const = default;
};

// The sources key of one certificate ("server.tls.certificates[2]",
// numbered from 1) or of one of its keys ("server.tls.certificates[2].cert").
std::string certificate_source_key(std::size_t index_from_0, std::string_view key = {});

// The checks of [server.tls] that OpenSSL does (src/config/server_tls.cpp),
// run at every load and reload so a bad file refuses the configuration
// instead of failing handshakes: ciphers must select at least one suite;
// each cert file must hold a PEM X.509 certificate valid now (neither
// expired nor not yet valid), each key file an unencrypted PEM private key
// matching that certificate. The problem's key is relative to server.tls
// ("certificates[2].key"). Where listen and the certificates must agree is
// the loader's business, not this.
std::optional<TlsProblem> validate_server_tls(const ServerTls& tls);

}  // namespace relay::config
