// RateLimitConfig from text and from an inline table, and its checks (see
// relay/config/rate_limit.hpp). The schema rows of [server.rate_limit] call
// parse_rate_limit_key/rate_limit_key_text; the validator and
// parse_rate_limit share rate_limit_problem, so the server-wide limit and a
// route's cannot be checked differently.
#include "relay/config/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "checks.hpp"
#include "values.hpp"

namespace relay::config {

void parse_rate_limit_key(std::string_view text, RateLimitConfig& out) {
  constexpr std::string_view header_prefix = "header:";
  if (text == "client") {
    out.key = RateLimitConfig::Key::Client;
    out.header.clear();
  } else if (text == "route") {
    out.key = RateLimitConfig::Key::Route;
    out.header.clear();
  } else if (text.starts_with(header_prefix) && detail::is_token(text.substr(header_prefix.size()))) {
    out.key = RateLimitConfig::Key::Header;
    out.header = std::string(text.substr(header_prefix.size()));
  } else {
    std::string message = "expected \"client\", \"route\" or \"header:<Field-Name>\", got \"";
    message.append(text).append("\"");
    throw std::invalid_argument(message);
  }
}

std::string rate_limit_key_text(const RateLimitConfig& limit) {
  switch (limit.key) {
    case RateLimitConfig::Key::Header:
      return "header:" + limit.header;
    case RateLimitConfig::Key::Route:
      return "route";
    case RateLimitConfig::Key::Client:
      break;
  }
  return "client";
}

double effective_burst(const RateLimitConfig& limit) noexcept {
  return limit.burst > 0 ? limit.burst : std::max(1.0, limit.rate);
}

std::optional<std::pair<std::string, std::string>> rate_limit_problem(const RateLimitConfig& limit) {
  const auto number = [](double x) {
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%g", x);
    return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  };
  if (!std::isfinite(limit.rate) || limit.rate < 0)
    return std::pair{std::string("rate"), "must be >= 0 (0 = no limit), got " + number(limit.rate)};
  // 0 is "the rate"; anything else must hold at least the one request it admits.
  if (!std::isfinite(limit.burst) || limit.burst < 0 || (limit.burst > 0 && limit.burst < 1))
    return std::pair{std::string("burst"), "must be 0 (= the rate) or >= 1, got " + number(limit.burst)};
  if (limit.per.count() <= 0) return std::pair{std::string("per"), std::string("must be greater than 0")};
  // One request per `per`/rate must be at least a microsecond apart: the
  // buckets count time in microseconds (and Redis's TIME gives no finer).
  if (limit.rate > 0 && static_cast<double>(limit.per.count()) * 1000.0 / limit.rate < 1.0)
    return std::pair{std::string("rate"), "too high for per (more than one request per microsecond)"};
  return std::nullopt;
}

RateLimitConfig parse_rate_limit(const toml::table& table, const std::string& path,
                                 const std::string& source) {
  RateLimitConfig out;
  // "file:line: path.key: "; toml++ may record a line on the key, the value
  // or only the table, so the first it has.
  const auto at = [&](const toml::key* name, const toml::node* node) {
    auto line = name ? name->source().begin.line : 0;
    if (!line && node) line = node->source().begin.line;
    if (!line) line = table.source().begin.line;
    std::string where = source;
    where.append(":").append(std::to_string(line)).append(": ").append(path);
    if (name) where.append(".").append(name->str());
    return where.append(": ");
  };
  for (const auto& [name, node] : table) {
    const std::string_view key = name.str();
    try {
      if (key == "rate") {
        out.rate = std::get<double>(detail::from_node(Kind::Number, node));
      } else if (key == "burst") {
        out.burst = std::get<double>(detail::from_node(Kind::Number, node));
      } else if (key == "per") {
        out.per = std::get<Duration>(detail::from_node(Kind::Duration, node));
      } else if (key == "key") {
        parse_rate_limit_key(std::get<std::string>(detail::from_node(Kind::String, node)), out);
      } else if (key == "fleet") {
        out.fleet = std::get<bool>(detail::from_node(Kind::Bool, node));
      } else if (key == "exempt_hits") {
        out.exempt_hits = std::get<bool>(detail::from_node(Kind::Bool, node));
      } else {
        throw ConfigError(at(&name, &node) + "unknown key (rate, burst, per, key, fleet, exempt_hits)");
      }
    } catch (const std::invalid_argument& e) {
      throw ConfigError(at(&name, &node) + e.what());
    }
  }
  if (auto problem = rate_limit_problem(out)) {
    const auto found = table.find(problem->first);
    if (found != table.end()) throw ConfigError(at(&found->first, &found->second) + problem->second);
    // A default that fails with what was given (rate too high for the default per).
    throw ConfigError(at(nullptr, nullptr) + problem->first + ": " + problem->second);
  }
  return out;
}

}  // namespace relay::config
