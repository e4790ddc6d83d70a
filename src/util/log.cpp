// Diagnostic log to stderr, plus relay's error category (the messages
// operators read in 502/504 bodies and logs).
#include "relay/util/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "relay/util/result.hpp"

namespace relay::log {
namespace {
std::atomic<int> current_level{static_cast<int>(Level::info)};
std::mutex write_mutex;

const char* level_name(Level level) {
  switch (level) {
    case Level::error: return "error";
    case Level::warn: return "warn";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "info";
}
}  // namespace

void set_level(Level level) noexcept { current_level = static_cast<int>(level); }

Level parse_level(std::string_view text) noexcept {
  if (text == "error") return Level::error;
  if (text == "warn") return Level::warn;
  if (text == "debug") return Level::debug;
  return Level::info;
}

bool enabled(Level level) noexcept { return static_cast<int>(level) <= current_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view message) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::lock_guard lock(write_mutex);
  std::fprintf(stderr, "%s.%03dZ %s %.*s\n", stamp, static_cast<int>(millis), level_name(level),
               static_cast<int>(message.size()), message.data());
}

}  // namespace relay::log

namespace relay {
namespace {
class RelayCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "relay"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::upstream_connect_failed: return "origin unreachable";
      case Errc::upstream_timeout: return "origin timed out";
      case Errc::upstream_first_byte_timeout: return "origin sent no response in time";
      case Errc::upstream_idle_timeout: return "origin stalled while sending the body";
      case Errc::upstream_reset: return "origin closed the connection";
      case Errc::upstream_protocol: return "origin sent an invalid response";
      case Errc::upstream_failed: return "origin request failed";
      case Errc::client_closed: return "client closed the connection";
      case Errc::client_timeout: return "client timed out";
      case Errc::bad_request: return "bad request";
      case Errc::object_too_large: return "object larger than max_object_size";
      case Errc::storage_unavailable: return "storage unavailable";
      case Errc::storage_corrupt: return "stored body failed its integrity check";
      case Errc::upstream_queue_timeout:
        return "no origin connection free within upstream.queue_timeout (upstream.max_connections reached)";
      case Errc::upstream_transfer_coding: return "origin response uses a transfer coding relay cannot decode";
    }
    return "unknown relay error";
  }
};
}  // namespace

const boost::system::error_category& relay_category() noexcept {
  static const RelayCategory category;
  return category;
}
}  // namespace relay
