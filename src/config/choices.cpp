// The words of each config choice, in one table per enum: name_of() and the
// loader's parse_text() read the same table, so what --print-config writes
// always loads back. The "expected a, b or c" message lists the table in order.
#include <array>
#include <stdexcept>
#include <string>
#include <utility>

#include "text.hpp"

namespace relay::config {
namespace {

template <typename E, std::size_t N>
using Table = std::array<std::pair<E, std::string_view>, N>;

constexpr Table<StorageBackend, 3> kBackends{
    {{StorageBackend::Memory, "memory"}, {StorageBackend::Disk, "disk"}, {StorageBackend::Redis, "redis"}}};
constexpr Table<Eviction, 3> kEvictions{{{Eviction::Lru, "lru"}, {Eviction::Lfu, "lfu"}, {Eviction::Fifo, "fifo"}}};
constexpr Table<Tier, 3> kTiers{
    {{Tier::None, "none"}, {Tier::MemoryDisk, "memory+disk"}, {Tier::MemoryRedis, "memory+redis"}}};
constexpr Table<Compression, 2> kCompressions{{{Compression::None, "none"}, {Compression::Zstd, "zstd"}}};
constexpr Table<SetCookie, 3> kSetCookies{
    {{SetCookie::Pass, "pass"}, {SetCookie::Strip, "strip"}, {SetCookie::Store, "store"}}};
constexpr Table<DegradedMode, 2> kDegraded{{{DegradedMode::Local, "local"}, {DegradedMode::FailOpen, "fail-open"}}};
constexpr Table<MaintenanceLock, 2> kLocks{{{MaintenanceLock::None, "none"}, {MaintenanceLock::Redis, "redis"}}};
constexpr Table<LogLevel, 4> kLevels{
    {{LogLevel::Error, "error"}, {LogLevel::Warn, "warn"}, {LogLevel::Info, "info"}, {LogLevel::Debug, "debug"}}};
constexpr Table<LogFormat, 2> kFormats{{{LogFormat::Text, "text"}, {LogFormat::Json, "json"}}};
constexpr Table<DiskVerify, 2> kDiskVerify{
    {{DiskVerify::FirstRead, "first_read"}, {DiskVerify::EveryRead, "every_read"}}};
constexpr Table<TlsVersion, 2> kTlsVersions{{{TlsVersion::V1_2, "1.2"}, {TlsVersion::V1_3, "1.3"}}};

template <typename E, std::size_t N>
std::string_view name_in(const Table<E, N>& table, E v) noexcept {
  for (const auto& [value, name] : table)
    if (value == v) return name;
  return table.front().second;  // unreachable for a declared enumerator
}

template <typename E, std::size_t N>
void parse_in(const Table<E, N>& table, std::string_view text, E& out) {
  std::string expected;
  for (std::size_t i = 0; i < N; ++i) {
    if (table[i].second == text) {
      out = table[i].first;
      return;
    }
    expected.append(i == 0 ? "" : i + 1 == N ? " or " : ", ").append(table[i].second);
  }
  throw std::invalid_argument("expected " + expected + ", got \"" + std::string(text) + "\"");
}

}  // namespace

std::string_view name_of(StorageBackend v) noexcept { return name_in(kBackends, v); }
std::string_view name_of(Eviction v) noexcept { return name_in(kEvictions, v); }
std::string_view name_of(Tier v) noexcept { return name_in(kTiers, v); }
std::string_view name_of(Compression v) noexcept { return name_in(kCompressions, v); }
std::string_view name_of(SetCookie v) noexcept { return name_in(kSetCookies, v); }
std::string_view name_of(DegradedMode v) noexcept { return name_in(kDegraded, v); }
std::string_view name_of(MaintenanceLock v) noexcept { return name_in(kLocks, v); }
std::string_view name_of(LogLevel v) noexcept { return name_in(kLevels, v); }
std::string_view name_of(LogFormat v) noexcept { return name_in(kFormats, v); }
std::string_view name_of(TlsVersion v) noexcept { return name_in(kTlsVersions, v); }
std::string_view name_of(DiskVerify v) noexcept { return name_in(kDiskVerify, v); }

StorageBackend lower_level(Tier tier) noexcept {
  switch (tier) {
    case Tier::MemoryDisk: return StorageBackend::Disk;
    case Tier::MemoryRedis: return StorageBackend::Redis;
    case Tier::None: break;
  }
  return StorageBackend::Memory;
}

namespace detail {

void parse_text(std::string_view text, StorageBackend& out) { parse_in(kBackends, text, out); }
void parse_text(std::string_view text, Eviction& out) { parse_in(kEvictions, text, out); }
void parse_text(std::string_view text, DiskVerify& out) { parse_in(kDiskVerify, text, out); }
void parse_text(std::string_view text, Tier& out) { parse_in(kTiers, text, out); }
void parse_text(std::string_view text, Compression& out) { parse_in(kCompressions, text, out); }
void parse_text(std::string_view text, SetCookie& out) { parse_in(kSetCookies, text, out); }
void parse_text(std::string_view text, DegradedMode& out) { parse_in(kDegraded, text, out); }
void parse_text(std::string_view text, MaintenanceLock& out) { parse_in(kLocks, text, out); }
void parse_text(std::string_view text, LogLevel& out) { parse_in(kLevels, text, out); }
void parse_text(std::string_view text, LogFormat& out) { parse_in(kFormats, text, out); }
void parse_text(std::string_view text, TlsVersion& out) { parse_in(kTlsVersions, text, out); }

}  // namespace detail
}  // namespace relay::config
