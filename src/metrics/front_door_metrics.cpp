// Metrics of the client side's protocols: TLS handshakes, connections by
// protocol, HTTP/2 connections closed for abuse. Label values come from
// short fixed lists (the TLS version is OpenSSL's name for one of the two
// versions relay accepts), so no family can grow without bound.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "relay/metrics/metrics.hpp"

namespace relay::metrics {

namespace {
constexpr std::array<std::string_view, 3> tls_results{"ok", "timeout", "failed"};
constexpr std::array<std::string_view, 3> tls_versions{"TLSv1.3", "TLSv1.2", "unknown"};
}  // namespace

void Metrics::register_front_door_metrics() {
  using namespace prometheus;
  auto& handshakes = BuildCounter()
                         .Name("relay_tls_handshakes_total")
                         .Help("TLS handshakes on the client side by result (ok, failed, timeout) and version")
                         .Register(*registry_);
  // Resolved now: a handshake then counts without building labels or
  // taking the family's lock (shared by every thread).
  for (std::size_t r = 0; r < tls_results.size(); ++r) {
    for (std::size_t v = 0; v < tls_versions.size(); ++v) {
      tls_handshakes_[r][v] = &handshakes.Add({{"result", std::string(tls_results[r])}, {"version", std::string(tls_versions[v])}});
    }
  }
  auto& connections = BuildGauge()
                          .Name("relay_client_connections")
                          .Help("Open client connections by protocol")
                          .Register(*registry_);
  client_connections_[0] = &connections.Add({{"protocol", "HTTP/1.1"}});
  client_connections_[1] = &connections.Add({{"protocol", "HTTP/2"}});
  http2_abuse_ = &BuildCounter()
                      .Name("relay_http2_abuse_total")
                      .Help("HTTP/2 connections closed for misbehaving (rapid reset, floods, stalls) by kind")
                      .Register(*registry_);
}

void Metrics::record_tls_handshake(std::string_view result, std::string_view version) {
  // An unknown result or version is counted under the last name of its list.
  const auto index = [](const auto& names, std::string_view name) {
    return static_cast<std::size_t>(std::find(names.begin(), names.end() - 1, name) - names.begin());
  };
  tls_handshakes_[index(tls_results, result)][index(tls_versions, version)]->Increment();
}

void Metrics::record_client_connection(std::string_view protocol, bool opened) {
  auto* gauge = client_connections_[protocol == "HTTP/2" ? 1 : 0];
  if (opened)
    gauge->Increment();
  else
    gauge->Decrement();
}

void Metrics::record_http2_abuse(std::string_view kind) { http2_abuse_->Add({{"kind", std::string(kind)}}).Increment(); }

}  // namespace relay::metrics
