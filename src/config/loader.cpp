// Reading a config: TOML text or a file, then the RELAY_* environment, into
// a Config through the schema rows (fields.hpp), then validation. Every error
// carries where the value came from ("file:line" or "environment RELAY_X")
// and the full dotted key; the same record of sources is returned with the
// config (LoadResult) for --print-config. [[cache.rules]] come from the file
// only.
#include "loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>
#include <utility>

#include "checks.hpp"
#include "fields.hpp"
#include "values.hpp"

extern char** environ;  // POSIX; <unistd.h> only declares it under _GNU_SOURCE

namespace relay::config {
namespace detail {
namespace {

// A key's line, falling back to its value's (toml++ may not record both).
int line_of(const toml::key& key, const toml::node& node) {
  return static_cast<int>(key.source().begin.line ? key.source().begin.line : node.source().begin.line);
}

// RELAY_SERVER_... for [server]: the variable's first part after RELAY_ is
// a top-level section (RELAY_SERVER alone too).
bool names_section(std::string_view name) {
  return std::any_of(fields().begin(), fields().end(), [&](const Field& f) {
    const std::string section = env_variable(f.path.substr(0, f.path.find('.')));
    return name.starts_with(section) && (name.size() == section.size() || name[section.size()] == '_');
  });
}

}  // namespace

void Loader::apply_table(const toml::table& t, const std::string& prefix) {
  for (const auto& [key, node] : t) {
    const std::string path = (prefix.empty() ? "" : prefix + ".") + std::string(key.str());
    const Source here = in_file(line_of(key, node));
    const std::string at = describe(here);
    const std::string where = at + ": " + path + ": ";
    // A quoted key like "server.listen" is not the dotted key server.listen.
    const bool plain = key.str().find('.') == std::string_view::npos;
    if (plain && path == kRules) {
      apply_rules(node, where);
    } else if (plain && (path == "origins" || path == "routes")) {
      // Read once [upstream] and the environment are merged: they give the defaults.
      if (!node.is_array()) throw ConfigError(where + "expected an array of tables ([[" + path + "]]), got " + shown(node));
      (path == "origins" ? origins_node : routes_node) = node.as_array();
      origin[path] = here;
    } else if (plain && path == "warm") {
      apply_warm(node, where);
      origin[path] = here;
    } else if (plain && path == "server.tls.certificates") {
      apply_certificates(node, "");
    } else if (const Field* f = plain ? find_field(fields(), path) : nullptr) {
      try {
        assign(*f, from_node(f->kind, node));
      } catch (const std::invalid_argument& e) {
        throw ConfigError(where + e.what());
      }
      origin[path] = here;
    } else if (plain && is_section(path)) {
      if (const auto* sub = node.as_table())
        apply_table(*sub, path);
      else
        throw ConfigError(where + "expected a table, got " + shown(node));
    } else {
      throw ConfigError(where + (node.is_table() ? "unknown table" : "unknown key"));
    }
  }
}

// [[cache.rules]] in file order. Rules are numbered from 1 in messages
// (cache.rules[1] is the first), each entry's own keys by their line.
void Loader::apply_rules(const toml::node& node, const std::string& where) {
  const auto* list = node.as_array();
  if (!list) throw ConfigError(where + "expected an array of tables ([[cache.rules]]), got " + shown(node));
  for (const auto& entry : *list) {
    const std::string name = rule_source_key(cfg.cache.rules.size());
    cfg.cache.rules.push_back(parse_rule(entry, name, "[[cache.rules]]"));
  }
}

// A rule's status: [200, 206, 404], numbers or their text.
static std::vector<std::string> status_list(const toml::node& node) {
  const auto* list = node.as_array();
  if (!list) throw std::invalid_argument("expected an array of status codes like [200, 404], got " + shown(node));
  std::vector<std::string> out;
  for (const auto& e : *list) {
    std::string text;
    if (const auto* i = e.as_integer())
      text = std::to_string(i->get());
    else if (const auto* s = e.as_string())
      text = s->get();
    const bool valid = text.size() == 3 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                       text >= "100" && text <= "599";
    if (!valid)
      throw std::invalid_argument("expected status codes from 100 to 599, got " + shown(e) + " at index " +
                                  std::to_string(out.size()));
    out.push_back(std::move(text));
  }
  return out;
}

CacheRule Loader::parse_rule(const toml::node& entry, const std::string& name, std::string_view form) {
  const int line = static_cast<int>(entry.source().begin.line);
  const std::string at = describe(in_file(line)) + ": " + name;
  const auto* t = entry.as_table();
  if (!t) throw ConfigError(at + ": expected a table (" + std::string(form) + "), got " + shown(entry));
  CacheRule rule;
  rule.line = line;
  for (const auto& [key, value] : *t) {
    const int key_line = line_of(key, value);
    const std::string here = describe(in_file(key_line)) + ": " + name + "." + std::string(key.str()) + ": ";
    const auto* f = find_field(rule_fields(), key.str());
    if (!f) throw ConfigError(here + (value.is_table() ? "unknown table" : "unknown key"));
    try {
      if (key.str() == "status") {
        rule.status = status_list(value);
        rule.status_codes.clear();
        for (const auto& code : *rule.status) rule.status_codes.push_back(std::stoi(code));
      } else {
        f->set(rule, from_node(f->kind, value));
      }
    } catch (const std::invalid_argument& e) {
      throw ConfigError(here + e.what());
    }
    if (key.str() == "path" && !rule.path.starts_with('/') && !rule.path.starts_with('*'))
      throw ConfigError(here + "must start with '/' or '*', got \"" + rule.path + "\"");
    if (key.str() == "strip_request_headers") check_field_names(*rule.strip_request_headers, here);
    origin[name + "." + std::string(key.str())] = in_file(key_line);
  }
  if (!t->contains("path")) throw ConfigError(at + ": missing required key \"path\"");
  origin[name] = in_file(line);
  return rule;
}

// RELAY_<SECTION>_<KEY>: a variable under a known section must name a key
// (a silently ignored RELAY_SERVER_LISTNE is worse than a refusal). One
// naming no section is not relay's: Kubernetes injects RELAY_PORT,
// RELAY_SERVICE_HOST, RELAY_PORT_8080_TCP_ADDR, ... for a Service named
// "relay" (service links); those are set aside for one warning.
void Loader::apply_env(const Environment& env) {
  const auto all = fields();
  for (const auto& entry : env) {
    const std::string& name = entry.first;  // not a structured binding: lambdas below capture it
    if (!name.starts_with("RELAY_")) continue;
    const auto f = std::find_if(all.begin(), all.end(), [&](const Field& fl) { return env_variable(fl.path) == name; });
    if (f == all.end() && name == env_variable("server.tls.certificates")) {
      apply_certificate_variable(name, entry.second);
      continue;
    }
    for (std::string_view array : {"origins", "routes", "warm"})
      if (f == all.end() && name.starts_with(env_variable(array)))
        throw ConfigError("environment " + name + ": " + std::string(array) +
                          " can only be set in the config file ([[" + std::string(array) + "]])");
    if (f == all.end() && !names_section(name)) {
      ignored_env.push_back(name);
      continue;
    }
    if (f == all.end() && name.starts_with(env_variable(kRules)))
      throw ConfigError("environment " + name +
                        ": cache.rules can only be set in the config file ([[cache.rules]]), "
                        "not from the environment");
    if (f == all.end())
      throw ConfigError("environment " + name + ": unknown variable (no such key in its section; RELAY_* names " +
                        "config keys as RELAY_<SECTION>_<KEY>)");
    try {
      assign(*f, from_env(f->kind, entry.second));
    } catch (const std::invalid_argument& e) {
      throw ConfigError("environment " + name + ": " + e.what());
    }
    origin[std::string(f->path)] = Source{Source::From::Environment, name, 0};
  }
}

void Loader::fail(std::string_view path, const std::string& msg) const {
  const auto it = origin.find(path);
  throw ConfigError((it == origin.end() ? "" : describe(it->second) + ": ") + std::string(path) + ": " + msg);
}

void Loader::assign(const Field& f, Value&& v) {
  if (f.typed)
    typed_text[std::string(f.path)] = std::get<std::string>(std::move(v));
  else
    f.set(cfg, std::move(v));
}

void Loader::resolve() {
  for (const auto& f : fields()) {
    const auto it = typed_text.find(f.path);
    if (it == typed_text.end()) continue;
    try {
      f.set(cfg, Value(it->second));
    } catch (const std::invalid_argument& e) {
      fail(f.path, e.what());
    }
  }
  typed_text.clear();
  if (!origin.contains("cache.max_object_size")) cfg.cache.max_object_size = default_max_object_size(cfg.storage);
}

}  // namespace detail

std::size_t event_loop_threads(const ServerConfig& server) {
  if (server.threads > 0) return static_cast<std::size_t>(server.threads);
  return std::max(1u, std::thread::hardware_concurrency());
}

std::uint64_t default_max_object_size(const StorageConfig& s) {
  const auto kind = s.tier == Tier::None ? s.backend : lower_level(s.tier);
  std::uint64_t size = s.max_size / 4;
  if (kind == StorageBackend::Disk) size = s.disk.max_size / 8;
  if (kind == StorageBackend::Redis) size = 256ull * 1024 * 1024;
  return std::max<std::uint64_t>(size, 1);  // 0 would mean no limit
}

Environment relay_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string_view::npos && entry.starts_with("RELAY_"))
      env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

LoadResult load_with_sources(std::string_view toml_text, const std::string& source_name, const Environment& env) {
  detail::Loader ld;
  ld.source = source_name;
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(source_name + ":" + std::to_string(e.source().begin.line) +
                      ": syntax error: " + std::string(e.description()));
  }
  ld.apply_table(doc, "");
  ld.apply_env(env);
  ld.resolve();
  ld.apply_gateway();
  ld.validate();
  return {std::move(ld.cfg), std::move(ld.origin), source_name, std::move(ld.ignored_env)};
}

LoadResult load_file_with_sources(const std::string& path, const Environment& env) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  try {
    // libstdc++ throws from underflow on e.g. a directory, regardless of exceptions().
    if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    in.setstate(std::ios::badbit);
  }
  if (!in || in.bad()) throw ConfigError(path + ": cannot read config file: " + std::strerror(errno));
  return load_with_sources(text, path, env);
}

LoadResult load_defaults_with_sources(const Environment& env) {
  detail::Loader ld;
  ld.apply_env(env);
  ld.resolve();
  ld.apply_gateway();
  ld.validate();
  return {std::move(ld.cfg), std::move(ld.origin), {}, std::move(ld.ignored_env)};
}

Config load_from_string(std::string_view toml_text, const std::string& source_name, const Environment& env) {
  return load_with_sources(toml_text, source_name, env).config;
}

Config load_from_file(const std::string& path, const Environment& env) {
  return load_file_with_sources(path, env).config;
}

Config load_defaults(const Environment& env) { return load_defaults_with_sources(env).config; }

}  // namespace relay::config
