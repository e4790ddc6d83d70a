// The configuration schema as data: every key the loader accepts (the kFields
// rows in src/config/fields.cpp, in their order) with its kind and current
// value, and where each value came from. The printer (print.hpp) and tests
// walk these lists, so a key added to kFields is printed and checked with no
// other change.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relay/config/config.hpp"

namespace relay::config {

// What a key holds. Order matters to values.cpp (its messages index by it).
enum class Kind { String, Int, Bool, Duration, Size, StringList, Number };
// Int keys hold std::int64_t, Size keys std::uint64_t, Number keys a double
// (a TOML integer or float: rates such as server.rate_limit.rate).
using Value =
    std::variant<std::string, std::int64_t, bool, Duration, std::uint64_t, std::vector<std::string>, double>;

// One key and its value. For a rule, path is the key inside the rule ("ttl").
struct KeyValue {
  std::string_view path;
  Kind kind;
  Value value;
};

// Every key of the sections, in schema order.
std::vector<KeyValue> key_values(const Config& cfg);
// A rule's keys: path and bypass always, the optional ones when the rule sets them.
std::vector<KeyValue> key_values(const CacheRule& rule);

// The environment variable that sets a key: "cache.key.headers" -> RELAY_CACHE_KEY_HEADERS.
std::string env_variable(std::string_view path);
// The dotted path of the [[cache.rules]] array ("cache.rules").
std::string_view rules_path();
// The sources key of a rule ("cache.rules[2]", numbered from 1) or of one of its keys.
std::string rule_source_key(std::size_t index_from_0, std::string_view key = {});

// Where a key's value came from.
struct Source {
  enum class From { Default, File, Environment };
  From from = From::Default;
  std::string name;  // the file name as given (File) or the variable (Environment)
  int line = 0;      // File only

  bool operator==(const Source&) const = default;
};
// "relay.toml:12", "environment RELAY_X" or "default": the prefix of error messages.
std::string describe(const Source& s);

// Keys the file or the environment set, by dotted path; a rule and its keys
// under rule_source_key(). A key that is absent has its default value.
using Sources = std::map<std::string, Source, std::less<>>;

struct LoadResult {
  Config config;
  Sources sources;
  std::string file;  // the config file's name as given; "" without one
  // RELAY_* variables that name no config section (Kubernetes service links
  // such as RELAY_PORT or RELAY_SERVICE_HOST): ignored, for the caller to
  // warn about once. A known section with an unknown key is a ConfigError.
  std::vector<std::string> ignored_environment;

  // The source of a key (Default when nothing set it).
  Source source_of(std::string_view path) const;
};

// load_from_string / load_from_file / load_defaults, keeping the sources.
// Throw ConfigError like them.
LoadResult load_with_sources(std::string_view toml_text, const std::string& source_name,
                             const Environment& env);
LoadResult load_file_with_sources(const std::string& path, const Environment& env);
LoadResult load_defaults_with_sources(const Environment& env);

}  // namespace relay::config
