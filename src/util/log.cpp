// Diagnostic log to stderr; a line written while serving a request names
// it (request_context.hpp). Relay's error category lives with the error
// table (error_table.cpp).
#include "relay/util/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "relay/util/request_context.hpp"


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
  // The request being served, when this line is written on its behalf.
  std::string context;
  if (const auto* request = current_request()) {
    context = "[client " + (request->client.empty() ? std::string("-") : request->client);
    if (!request->id.empty()) context.append(" id ").append(request->id);
    context.append("] ");
  }
  std::lock_guard lock(write_mutex);
  std::fprintf(stderr, "%s.%03dZ %s %s%.*s\n", stamp, static_cast<int>(millis), level_name(level), context.c_str(),
               static_cast<int>(message.size()), message.data());
}

}  // namespace relay::log
