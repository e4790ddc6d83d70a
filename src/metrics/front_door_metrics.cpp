// Metrics of the client side's protocols: TLS handshakes, connections by
// protocol, HTTP/2 connections closed for abuse. Label values come from
// short fixed lists (the TLS version is OpenSSL's name for one of the two
// versions relay accepts), so no family can grow without bound.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "relay/metrics/metrics.hpp"

namespace relay::metrics {

void Metrics::register_front_door_metrics() {
  using namespace prometheus;
  tls_handshakes_ = &BuildCounter()
                         .Name("relay_tls_handshakes_total")
                         .Help("TLS handshakes on the client side by result (ok, failed, timeout) and version")
                         .Register(*registry_);
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
  const std::string_view known = version == "TLSv1.3" || version == "TLSv1.2" ? version : "unknown";
  tls_handshakes_->Add({{"result", std::string(result)}, {"version", std::string(known)}}).Increment();
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
