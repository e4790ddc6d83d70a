// OpenSSL contexts for the TLS listener (tls_contexts.hpp). The settings
// follow Mozilla's "intermediate" profile: TLS 1.2 and 1.3, AEAD ciphers
// with forward secrecy, the client's cipher preference (every offered one
// is strong), session tickets under rotated keys, one ticket per TLS 1.3
// handshake (resumption is per connection, not per request).
#include "relay/server/tls_contexts.hpp"

#include <boost/asio/ssl/context.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

namespace relay::server {

namespace asio = boost::asio;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The DNS names a certificate is valid for: its subjectAltName DNS entries,
// or its subject CN when it has none (RFC 6125 §6.4.4).
std::vector<std::string> certificate_names(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_STRING* dns = name->d.dNSName;
      names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                             static_cast<std::size_t>(ASN1_STRING_length(dns)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (n > 0) names.push_back(lower(std::string_view(cn, static_cast<std::size_t>(n))));
  }
  return names;
}

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

int ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

bool name_matches(std::string_view pattern, std::string_view host) noexcept {
  auto iequal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!pattern.starts_with("*.")) return iequal(pattern, host);
  const auto dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  return iequal(pattern.substr(1), host.substr(dot));
}

struct TlsCallbacks {
  static int server_name(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<TlsContexts*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
    const std::size_t i = self->certificate_for(name);
    if (i != 0) SSL_set_SSL_CTX(ssl, self->entries_[i].context->native_handle());
    return SSL_TLSEXT_ERR_OK;
  }

  // h2 when the client offers it (and it is enabled), else http/1.1; a
  // client offering neither gets no ALPN and speaks HTTP/1.1.
  static int alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                  unsigned int in_len, void* arg) {
    auto* self = static_cast<TlsContexts*>(arg);
    static constexpr unsigned char both[] = "\x02h2\x08http/1.1";
    static constexpr unsigned char http11[] = "\x08http/1.1";
    unsigned char* chosen = nullptr;
    const unsigned char* ours = self->offer_h2_ ? both : http11;
    const unsigned int ours_len = self->offer_h2_ ? sizeof both - 1 : sizeof http11 - 1;
    if (SSL_select_next_proto(&chosen, out_len, ours, ours_len, in, in_len) != OPENSSL_NPN_NEGOTIATED)
      return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
  }

  // RFC 5077 §4: AES-256-CBC and HMAC-SHA256 under the ring's keys.
  static int ticket_key(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                        EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
    auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index()));
    if (!keys) return -1;
    TicketKeys::Key key;
    int result = 1;
    if (encrypt) {
      key = keys->current();
      std::memcpy(key_name, key.name.data(), key.name.size());
      if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1) return -1;
      if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) return -1;
    } else {
      bool newest = false;
      auto found = keys->find(key_name, newest);
      if (!found) return 0;  // unknown or retired key: a full handshake
      key = *found;
      if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) return -1;
      result = newest ? 1 : 2;  // 2: valid, but issue a ticket under the current key
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    return result;
  }
};

TlsContexts::TlsContexts(const config::ServerTls& tls, std::shared_ptr<TicketKeys> tickets)
    : tickets_(std::move(tickets)), offer_h2_(tls.http2) {
  for (std::size_t i = 0; i < tls.certificates.size(); ++i) {
    const auto& certificate = tls.certificates[i];
    const std::string key = "server.tls.certificates[" + std::to_string(i + 1) + "]";  // counted from 1, as the loader does
    auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* ctx = context->native_handle();
    SSL_CTX_set_min_proto_version(ctx, tls.min_version == config::TlsVersion::V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_SINGLE_ECDH_USE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, tls.ciphers.c_str()) != 1)
      throw std::runtime_error("server.tls.ciphers: OpenSSL accepts none of \"" + tls.ciphers + "\"");
    SSL_CTX_set_dh_auto(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate.cert.c_str()) != 1)
      throw std::runtime_error(key + ".cert: cannot use \"" + certificate.cert + "\": " + openssl_error());
    if (SSL_CTX_use_PrivateKey_file(ctx, certificate.key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error(key + ".key: cannot use \"" + certificate.key + "\": " + openssl_error());
    if (SSL_CTX_check_private_key(ctx) != 1)
      throw std::runtime_error(key + ".key: \"" + certificate.key + "\" is not the key of " + certificate.cert);
    static constexpr unsigned char session_context[] = "relay";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    if (tls.session_tickets && tickets_) {
      SSL_CTX_set_ex_data(ctx, ex_index(), tickets_.get());
      SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TlsCallbacks::ticket_key);
      SSL_CTX_set_num_tickets(ctx, 1);
    } else {
      SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, &TlsCallbacks::server_name);
    SSL_CTX_set_tlsext_servername_arg(ctx, this);
    SSL_CTX_set_alpn_select_cb(ctx, &TlsCallbacks::alpn, this);
    entries_.push_back(Entry{std::move(context), certificate_names(ctx)});
  }
  if (entries_.empty()) throw std::runtime_error("server.tls.certificates: at least one is needed");
}

TlsContexts::~TlsContexts() = default;

asio::ssl::context& TlsContexts::default_context() noexcept { return *entries_.front().context; }

std::size_t TlsContexts::certificate_for(std::string_view server_name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    for (const auto& name : entries_[i].names)
      if (!name.starts_with("*.") && name_matches(name, server_name)) return i;
  for (std::size_t i = 0; i < entries_.size(); ++i)
    for (const auto& name : entries_[i].names)
      if (name.starts_with("*.") && name_matches(name, server_name)) return i;
  return 0;
}

}  // namespace relay::server
