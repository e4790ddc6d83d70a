// Turning text into the schema's Values: TOML nodes (from_node), environment
// strings (from_env), and the duration and size notations both share. Every
// failure is a std::invalid_argument whose text follows the key's location
// in the ConfigError, as "expected X, got Y".
#include "values.hpp"

#include <cctype>
#include <cmath>
#include <charconv>
#include <limits>
#include <sstream>
#include <utility>

namespace relay::config {
namespace detail {
namespace {

std::invalid_argument mismatch(Kind k, const std::string& got) {
  constexpr const char* kExpected[] = {"a string", "an integer", "a boolean", "a duration like \"30s\"",
                                       "a size like \"64MiB\"", "an array of strings", "a number"};
  return std::invalid_argument("expected " + std::string(kExpected[static_cast<int>(k)]) + ", got " + got);
}

// n * unit, refusing anything that would not fit below limit.
std::uint64_t scaled(std::uint64_t n, std::uint64_t unit, std::uint64_t limit) {
  if (n > limit / unit) throw std::invalid_argument("value too large");
  return n * unit;
}

// Leading decimal digits of text, and the rest (the unit suffix).
std::pair<std::uint64_t, std::string_view> split_number(std::string_view text) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end == text.data())
    throw std::invalid_argument("expected a number, got \"" + std::string(text) + "\"");
  return {n, text.substr(static_cast<std::size_t>(end - text.data()))};
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

constexpr auto kMaxMs = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max());

}  // namespace

std::string shown(const toml::node& n) {
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  // toml++ would print 'abc'; double quotes match how env values are shown.
  if (const auto* s = n.as_string()) return "\"" + s->get() + "\"";
  std::ostringstream os;
  n.visit([&](const auto& v) { os << v; });
  return os.str();
}

Value from_node(Kind k, const toml::node& n) {
  const auto* i = n.as_integer();
  const auto* s = n.as_string();
  if (k == Kind::String && s) return s->get();
  if (k == Kind::Int && i) return i->get();
  if (k == Kind::Bool && n.is_boolean()) return n.as_boolean()->get();
  if (k == Kind::Number && i) return static_cast<double>(i->get());
  if (k == Kind::Number && n.is_floating_point() && std::isfinite(n.as_floating_point()->get()))
    return n.as_floating_point()->get();
  if (k == Kind::StringList && n.is_array()) {
    std::vector<std::string> out;
    for (const auto& e : *n.as_array()) {
      if (!e.is_string())
        throw std::invalid_argument("expected an array of strings, got " + shown(e) + " at index " +
                                    std::to_string(out.size()));
      out.push_back(e.as_string()->get());
    }
    return out;
  }
  // The parsers' own messages are dropped for the uniform "expected X, got Y".
  try {
    // A TOML integer is seconds for a duration and bytes for a size.
    const bool whole = i && i->get() >= 0;
    const auto u = whole ? static_cast<std::uint64_t>(i->get()) : 0;
    if (k == Kind::Duration && whole) return Duration(scaled(u, 1000, kMaxMs));
    if (k == Kind::Duration && s) return parse_duration(s->get());
    if (k == Kind::Size && whole) return u;
    if (k == Kind::Size && s) return parse_size(s->get());
  } catch (const std::invalid_argument&) {
  }
  throw mismatch(k, shown(n));
}

Value from_env(Kind k, const std::string& text) {
  const std::string quoted = "\"" + text + "\"";
  if (k == Kind::String) return text;
  if (k == Kind::StringList) {
    // Items are trimmed and empty ones dropped, so "a, b," means [a, b] and "" means [].
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
      const auto b = item.find_first_not_of(" \t");
      if (b != std::string::npos) out.push_back(item.substr(b, item.find_last_not_of(" \t") - b + 1));
    }
    return out;
  }
  if (k == Kind::Bool) {
    const auto t = lower(text);
    if (t == "true" || t == "1" || t == "yes") return true;
    if (t == "false" || t == "0" || t == "no") return false;
    throw std::invalid_argument("expected a boolean (true/false/1/0/yes/no), got " + quoted);
  }
  try {
    if (k == Kind::Duration) return parse_duration(text);
    if (k == Kind::Size) return parse_size(text);
    if (k == Kind::Number) {
      double x = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
      if (ec == std::errc{} && !text.empty() && end == text.data() + text.size() && std::isfinite(x)) return x;
      throw mismatch(k, quoted);
    }
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc{} && !text.empty() && end == text.data() + text.size()) return n;
  } catch (const std::invalid_argument&) {
  }
  throw mismatch(k, quoted);
}

}  // namespace detail

using detail::kMaxMs;
using detail::scaled;
using detail::split_number;
using detail::lower;

// Bare numbers are seconds, matching what a TOML integer means for a duration.
Duration parse_duration(std::string_view text) {
  const auto [n, unit] = split_number(text);
  std::uint64_t ms_per = 0;
  if (unit.empty() || unit == "s") ms_per = 1000;
  else if (unit == "ms") ms_per = 1;
  else if (unit == "m") ms_per = 60'000;
  else if (unit == "h") ms_per = 3'600'000;
  else if (unit == "d") ms_per = 86'400'000;
  else throw std::invalid_argument("bad duration unit in \"" + std::string(text) + "\" (use ms, s, m, h, d)");
  return Duration(scaled(n, ms_per, kMaxMs));
}

// K, KB and KiB all mean 1024 (likewise M/G/T): operators write "64KB"
// meaning 64 KiB far more often than they mean 64000, so the decimal reading
// would only surprise. Units are case-insensitive; a lone "B" is bytes.
std::uint64_t parse_size(std::string_view text) {
  const auto [n, unit] = split_number(text);
  const auto u = lower(unit);
  if (u.empty() || u == "b") return n;
  const auto p = std::string_view("kmgt").find(u.front());
  if (p == std::string_view::npos || !(u.size() == 1 || u.substr(1) == "b" || u.substr(1) == "ib"))
    throw std::invalid_argument("bad size unit in \"" + std::string(text) + "\" (use K, KiB, M, ... TiB)");
  return scaled(n, std::uint64_t{1} << (10 * (p + 1)), std::numeric_limits<std::uint64_t>::max());
}


}  // namespace relay::config
