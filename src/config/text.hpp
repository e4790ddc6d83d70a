// Internal to src/config: the text form of every typed value the schema
// holds (the enums and the parsed addresses). A row whose member has these
// two functions is a string key in the file, the environment and
// --print-config; the loader turns the text into the value once, at load.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "relay/config/config.hpp"

namespace relay::config::detail {

// Each throws std::invalid_argument("expected ..., got \"text\"").
void parse_text(std::string_view text, StorageBackend& out);
void parse_text(std::string_view text, Eviction& out);
void parse_text(std::string_view text, DiskVerify& out);
void parse_text(std::string_view text, Tier& out);
void parse_text(std::string_view text, Compression& out);
void parse_text(std::string_view text, SetCookie& out);
void parse_text(std::string_view text, DegradedMode& out);
void parse_text(std::string_view text, MaintenanceLock& out);
void parse_text(std::string_view text, LogLevel& out);
void parse_text(std::string_view text, LogFormat& out);
void parse_text(std::string_view text, TlsVersion& out);

template <typename T>
void parse_text(std::string_view text, T& out)
  requires requires { T::parse(text); }
{
  out = T::parse(text);
}

template <typename E>
  requires std::is_enum_v<E>
std::string to_text(E v) {
  return std::string(name_of(v));
}
inline std::string to_text(const ListenAddress& v) { return v.text; }
inline std::string to_text(const UpstreamUrl& v) { return v.text; }
inline std::string to_text(const RedisUrl& v) { return v.text; }
inline std::string to_text(const AccessLogTarget& v) { return v.text(); }
inline std::string to_text(const AdminListen& v) { return v.text; }
inline std::string to_text(const MetricsListen& v) { return v.text(); }

template <typename T>
concept Textual = requires(std::string_view s, T& out, const T& v) {
  parse_text(s, out);
  { to_text(v) } -> std::same_as<std::string>;
};

}  // namespace relay::config::detail
