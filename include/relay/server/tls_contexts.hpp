// The TLS side of [server.tls]: one OpenSSL context per certificate, the
// first the default, the others chosen by SNI from their certificates'
// names; ALPN offering h2 and http/1.1; session tickets under keys from a
// TicketKeys ring that outlives reloads. Built once per configuration
// generation (at start and on every reload) and shared by every loop:
// a connection keeps the contexts it was accepted with.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "relay/config/front_door.hpp"
#include "relay/server/ticket_keys.hpp"

namespace boost::asio::ssl {
class context;
}

namespace relay::server {

class TlsContexts {
 public:
  // Throws std::runtime_error naming the key ("server.tls.certificates[1].key: ...")
  // when a file cannot be used.
  TlsContexts(const config::ServerTls& tls, std::shared_ptr<TicketKeys> tickets);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // What a new connection starts with; SNI may move it to another certificate's.
  boost::asio::ssl::context& default_context() noexcept;
  // The certificate (index into server.tls.certificates) serving `server_name`:
  // the first whose names match it exactly, else by wildcard, else 0.
  std::size_t certificate_for(std::string_view server_name) const;
  // The DNS names of certificate `i` as read from it (lower case).
  const std::vector<std::string>& names(std::size_t i) const { return entries_.at(i).names; }

 private:
  struct Entry {
    std::unique_ptr<boost::asio::ssl::context> context;
    std::vector<std::string> names;
  };
  std::vector<Entry> entries_;
  std::shared_ptr<TicketKeys> tickets_;
  bool offer_h2_;

  friend struct TlsCallbacks;  // OpenSSL's callbacks (tls_contexts.cpp)
};

// Does `pattern` (a certificate name, maybe "*.example.com") cover `host`?
// A wildcard stands for exactly one leftmost label (RFC 6125 §6.4.3).
bool name_matches(std::string_view pattern, std::string_view host) noexcept;

}  // namespace relay::server
