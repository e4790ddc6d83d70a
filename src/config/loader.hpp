// Internal to src/config: the Loader merges the file's values and the
// RELAY_* environment into a Config through the schema rows, recording where
// each value came from (origin), then validate() checks the merged result.
// Loading is all-or-nothing: the first problem throws a ConfigError naming
// the key and its source.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "fields.hpp"
#include "relay/config/config.hpp"
#include "relay/config/schema.hpp"

namespace relay::config::detail {

struct Loader {
  Config cfg;
  Sources origin;  // where each key's current value came from
  std::string source;
  // The text of each typed key set so far (the last one wins), parsed by
  // resolve(): an environment override may replace a bad file value.
  std::map<std::string, std::string, std::less<>> typed_text;

  Source in_file(int line) const { return {Source::From::File, source, line}; }

  void apply_table(const toml::table& t, const std::string& prefix);
  // [[cache.rules]] in file order.
  void apply_rules(const toml::node& node, const std::string& where);
  // One rule table; name is its sources key ("cache.rules[2]"), form how the
  // file writes it ("[[cache.rules]]").
  CacheRule parse_rule(const toml::node& entry, const std::string& name, std::string_view form);

  // [[origins]] and [[routes]] as the file gave them, read by apply_gateway()
  // (gateway_loader.cpp) once [upstream] is final, because pools default to
  // its values; then the implicit default pool and catch-all route.
  // Point into the parsed document, which outlives apply_gateway() (a copy
  // of a toml++ node would lose its source lines).
  const toml::array* origins_node = nullptr;
  const toml::array* routes_node = nullptr;
  void apply_gateway();
  // [[warm]] (warm_loader.cpp), in file order.
  void apply_warm(const toml::node& node, const std::string& where);
  // server.tls.certificates (front_door_loader.cpp): an array of
  // { cert, key } tables from the file, or from the variable env_name (""
  // for the file), replacing any earlier list.
  void apply_certificates(const toml::node& node, const std::string& env_name);
  // RELAY_SERVER_TLS_CERTIFICATES: the same array in TOML,
  // '[{ cert = "/etc/relay/site.pem", key = "/etc/relay/site.key" }]'.
  void apply_certificate_variable(const std::string& name, const std::string& text);
  // RELAY_* variables: an unknown key in a known section is refused, a
  // variable naming no section goes to ignored_env.
  void apply_env(const Environment& env);
  std::vector<std::string> ignored_env;

  // Parses typed_text into cfg, in schema order; a bad text fails like validate().
  void resolve();

  // Throws "<source>: <path>: msg" (no source for a default value).
  [[noreturn]] void fail(std::string_view path, const std::string& msg) const;
  void validate() const;

 private:
  // Sets a key, or records the text of a typed one for resolve().
  void assign(const FieldOf<Config>& f, Value&& v);
  void validate_storage(const StorageConfig& s) const;
  // admin.cpp: [admin] and metrics.listen, and the listeners' addresses apart.
  void validate_listeners() const;
  // front_door_loader.cpp: [server.tls] against the other listeners and
  // its files (validate_server_tls), server.h2c, [server.http2] ranges.
  void validate_front_door() const;
};

}  // namespace relay::config::detail
