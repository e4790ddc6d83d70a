// The checks of one UpstreamTls ([upstream.tls], and later each pool's
// `tls`): the files it names are read at load time, so a wrong path, a
// directory, an unreadable key or a key given as the CA fails the start (or
// the reload) naming its key, instead of every request failing later with a
// TLS error. Only the PEM markers are checked here; whether the chain
// verifies is the handshake's business.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <unistd.h>

#include "relay/config/config.hpp"
#include "pem_file.hpp"

namespace relay::config {
namespace {

using detail::in_quotes;
using detail::kMaxPemFile;

constexpr std::string_view kCertificate = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kTrustedCertificate = "-----BEGIN TRUSTED CERTIFICATE-----";
constexpr std::string_view kPrivateKeyEnd = "PRIVATE KEY-----";  // PKCS#8, RSA, EC: "BEGIN ... PRIVATE KEY-----"

// The file's text, or a problem for `key` when it is not a readable regular file.
std::optional<TlsProblem> read_pem(std::string_view key, const std::string& path, std::string& text) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec) return TlsProblem{std::string(key), "cannot read " + in_quotes(path) + ": " + ec.message()};
  if (!std::filesystem::is_regular_file(status))
    return TlsProblem{std::string(key), in_quotes(path) + " is not a regular file"};
  if (std::filesystem::file_size(path, ec) > kMaxPemFile)
    return TlsProblem{std::string(key), in_quotes(path) + " is larger than 16 MiB: not a PEM file"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return TlsProblem{std::string(key), "cannot read " + in_quotes(path) + ": " + std::strerror(errno)};
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return TlsProblem{std::string(key), "cannot read " + in_quotes(path) + ": " + std::strerror(errno)};
  return std::nullopt;
}

bool holds(const std::string& text, std::string_view marker) { return text.find(marker) != std::string::npos; }

bool encrypted_key(const std::string& text) {
  return holds(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") || holds(text, "Proc-Type: 4,ENCRYPTED");
}

// RFC 6066 §3: SNI carries a DNS host name, never an IP literal.
bool dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  bool all_digits_last = true;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto dot = s.find('.', start);
    const auto label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    all_digits_last = true;
    for (const char ch : label) {
      const bool digit = ch >= '0' && ch <= '9';
      const bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
      if (!digit && !letter && ch != '-') return false;
      all_digits_last = all_digits_last && digit;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !all_digits_last;  // "10.0.0.1" is an address
}

std::optional<TlsProblem> check_ca_file(const std::string& path) {
  std::string text;
  if (auto problem = read_pem("ca_file", path, text)) return problem;
  if (!holds(text, kCertificate) && !holds(text, kTrustedCertificate))
    return TlsProblem{"ca_file", in_quotes(path) + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)"};
  return std::nullopt;
}

// A hashed directory is what OpenSSL looks certificates up in: without the
// <hash>.0 links (openssl rehash) every handshake would fail as "unable to
// get local issuer certificate", far from the cause.
std::optional<TlsProblem> check_ca_path(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec))
    return TlsProblem{"ca_path", in_quotes(path) + " is not a directory" + (ec ? ": " + ec.message() : std::string())};
  if (::access(path.c_str(), R_OK | X_OK) != 0)
    return TlsProblem{"ca_path", "cannot read directory " + in_quotes(path) + ": " + std::strerror(errno)};
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    const auto name = entry.path().filename().string();
    const auto dot = name.find('.');
    if (dot == 8 && name.find_first_not_of("0123456789abcdef") == 8) return std::nullopt;
  }
  return TlsProblem{"ca_path", in_quotes(path) +
                                   " holds no hashed certificate names (<hash>.0): run `openssl rehash " + path + "`"};
}

std::optional<TlsProblem> check_client_pair(const UpstreamTls& tls) {
  if (tls.client_cert.empty()) {
    if (tls.client_key.empty()) return std::nullopt;
    return TlsProblem{"client_key", "needs client_cert (the certificate this key belongs to)"};
  }
  std::string cert;
  if (auto problem = read_pem("client_cert", tls.client_cert, cert)) return problem;
  if (!holds(cert, kCertificate))
    return TlsProblem{"client_cert", in_quotes(tls.client_cert) + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)"};
  // Without client_key, curl reads the key from the certificate's file.
  const bool key_in_cert = tls.client_key.empty();
  std::string key_text;
  if (!key_in_cert) {
    if (auto problem = read_pem("client_key", tls.client_key, key_text)) return problem;
  }
  const std::string& key = key_in_cert ? cert : key_text;
  const std::string where = key_in_cert ? "client_cert" : "client_key";
  const std::string& file = key_in_cert ? tls.client_cert : tls.client_key;
  if (!holds(key, kPrivateKeyEnd))
    return TlsProblem{where, key_in_cert ? in_quotes(file) + " holds no private key: set client_key too"
                                         : in_quotes(file) + " holds no PEM private key (-----BEGIN PRIVATE KEY-----)"};
  if (encrypted_key(key))
    return TlsProblem{where, in_quotes(file) + " holds an encrypted private key; relay needs it unencrypted " +
                                 "(protect the file by its permissions)"};
  return std::nullopt;
}

}  // namespace

std::optional<TlsProblem> validate_upstream_tls(const UpstreamTls& tls) {
  if (!tls.ca_file.empty())
    if (auto problem = check_ca_file(tls.ca_file)) return problem;
  if (!tls.ca_path.empty())
    if (auto problem = check_ca_path(tls.ca_path)) return problem;
  if (!tls.sni.empty() && !dns_name(tls.sni))
    return TlsProblem{"sni", "expected a DNS host name (SNI carries no IP address), got " + in_quotes(tls.sni)};
  return check_client_pair(tls);
}

std::vector<std::string> upstream_tls_warnings(const UpstreamTls& tls) {
  std::vector<std::string> out;
  if (!tls.verify)
    out.emplace_back("verify = false: the origin's certificate and host name are not checked "
                     "(anyone on the path can impersonate it)");
  return out;
}

}  // namespace relay::config
