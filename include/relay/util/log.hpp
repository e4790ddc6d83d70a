// The diagnostic log (stderr): levelled, timestamped, one line per call,
// safe from every thread. The access log is separate (proxy/access_log).
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace relay::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

void set_level(Level level) noexcept;
Level parse_level(std::string_view text) noexcept;  // unknown -> info
bool enabled(Level level) noexcept;
void write(Level level, std::string_view message);

template <class... Parts>
void emit(Level level, const Parts&... parts) {
  if (!enabled(level)) return;
  std::ostringstream out;
  (out << ... << parts);
  write(level, out.str());
}

template <class... P> void error(const P&... p) { emit(Level::error, p...); }
template <class... P> void warn(const P&... p) { emit(Level::warn, p...); }
template <class... P> void info(const P&... p) { emit(Level::info, p...); }
template <class... P> void debug(const P&... p) { emit(Level::debug, p...); }

}  // namespace relay::log
