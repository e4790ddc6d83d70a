// The checks of [server.tls] that need OpenSSL: every certificate and key
// is read and parsed now, at load (start, --check-config, every reload), so
// an expired certificate, a key of another certificate or a typo in a path
// refuses the configuration naming its key, instead of the first client's
// handshake failing with an alert far from the cause. The TLS contexts the
// server builds read the same files again; what passes here loads there.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "relay/config/front_door.hpp"
#include "pem_file.hpp"

namespace relay::config {
namespace {

using detail::in_quotes;
using detail::kMaxPemFile;

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const noexcept { Free(p); }
};
using Bio = std::unique_ptr<BIO, Freer<BIO, BIO_free_all>>;
using Certificate = std::unique_ptr<X509, Freer<X509, X509_free>>;
using PrivateKey = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY, EVP_PKEY_free>>;
using Context = std::unique_ptr<SSL_CTX, Freer<SSL_CTX, SSL_CTX_free>>;

// OpenSSL keeps failures in a per-thread queue; a check that fails must not
// leave them there for the next TLS call on this thread (the reload runs on
// an event-loop thread) to mistake for its own.
struct ClearErrorsOnExit {
  ~ClearErrorsOnExit() { ERR_clear_error(); }
};

// OpenSSL's reason for the last failure ("" when it gave none).
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  const char* reason = code ? ERR_reason_error_string(code) : nullptr;
  return reason ? std::string(": ") + reason : std::string();
}

// The file's text in a memory BIO, or a problem naming why it cannot be read.
std::optional<TlsProblem> read_file(const std::string& key, const std::string& path, std::string& text, Bio& out) {
  if (path.empty()) return TlsProblem{key, "must not be empty"};
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec) return TlsProblem{key, "cannot read " + in_quotes(path) + ": " + ec.message()};
  if (!std::filesystem::is_regular_file(status)) return TlsProblem{key, in_quotes(path) + " is not a regular file"};
  if (std::filesystem::file_size(path, ec) > kMaxPemFile)
    return TlsProblem{key, in_quotes(path) + " is larger than 16 MiB: not a PEM file"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return TlsProblem{key, "cannot read " + in_quotes(path) + ": " + std::strerror(errno)};
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return TlsProblem{key, "cannot read " + in_quotes(path) + ": " + std::strerror(errno)};
  out.reset(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!out) return TlsProblem{key, "cannot read " + in_quotes(path) + ": out of memory"};
  return std::nullopt;
}

// An ASN1_TIME as "2025-03-01 12:00:00 UTC".
std::string date_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable date";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// The passphrase callback for keys: none is given, so an encrypted key fails
// to load instead of OpenSSL prompting on the terminal.
int no_passphrase(char*, int, int, void*) { return -1; }

std::optional<TlsProblem> check_certificate(const TlsCertificate& entry, const std::string& name) {
  const std::string cert_key = name + ".cert";
  const std::string key_key = name + ".key";
  std::string cert_text;
  Bio cert_file;
  if (auto problem = read_file(cert_key, entry.cert, cert_text, cert_file)) return problem;
  const Certificate cert(PEM_read_bio_X509(cert_file.get(), nullptr, nullptr, nullptr));
  if (!cert)
    return TlsProblem{cert_key, in_quotes(entry.cert) + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)" +
                                    openssl_reason()};
  const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
  const ASN1_TIME* not_before = X509_get0_notBefore(cert.get());
  // X509_cmp_current_time: -1 before now, 1 after, 0 on a malformed time.
  if (X509_cmp_current_time(not_after) <= 0)
    return TlsProblem{cert_key, "the certificate in " + in_quotes(entry.cert) + " expired on " + date_of(not_after)};
  if (X509_cmp_current_time(not_before) >= 0)
    return TlsProblem{cert_key, "the certificate in " + in_quotes(entry.cert) + " is not valid before " +
                                    date_of(not_before)};

  std::string key_text;
  Bio key_file;
  if (auto problem = read_file(key_key, entry.key, key_text, key_file)) return problem;
  const PrivateKey key(PEM_read_bio_PrivateKey(key_file.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    // Told apart by its PEM markers: its remedy differs from a wrong file's.
    const bool encrypted = key_text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
                           key_text.find("Proc-Type: 4,ENCRYPTED") != std::string::npos;
    if (encrypted)
      return TlsProblem{key_key, in_quotes(entry.key) + " holds an encrypted private key; relay needs it " +
                                     "unencrypted (protect the file by its permissions)"};
    return TlsProblem{key_key, in_quotes(entry.key) + " holds no PEM private key (-----BEGIN PRIVATE KEY-----)" +
                                   openssl_reason()};
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return TlsProblem{key_key, "the private key in " + in_quotes(entry.key) +
                                   " does not belong to the certificate in " + in_quotes(entry.cert)};
  return std::nullopt;
}

}  // namespace

std::string certificate_source_key(std::size_t index_from_0, std::string_view key) {
  std::string out = "server.tls.certificates[" + std::to_string(index_from_0 + 1) + "]";
  if (!key.empty()) out.append(".").append(key);
  return out;
}

std::optional<TlsProblem> validate_server_tls(const ServerTls& tls) {
  const ClearErrorsOnExit clear;
  const Context ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return TlsProblem{"ciphers", "cannot create a TLS context" + openssl_reason()};
  if (tls.ciphers.empty() || SSL_CTX_set_cipher_list(ctx.get(), tls.ciphers.c_str()) != 1)
    return TlsProblem{"ciphers", "selects no cipher OpenSSL knows, got " + in_quotes(tls.ciphers)};
  for (std::size_t i = 0; i < tls.certificates.size(); ++i)
    if (auto problem = check_certificate(tls.certificates[i], "certificates[" + std::to_string(i + 1) + "]"))
      return problem;
  return std::nullopt;
}

}  // namespace relay::config
