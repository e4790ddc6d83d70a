// [[origins]] and [[routes]]: read after [upstream] and the environment are
// merged (pools default to [upstream]'s values), then completed with the
// implicit "default" pool (from [upstream], when no [[origins]] exist or
// upstream.url is set explicitly) and a catch-all route to it. Each entry's
// keys are read through a small table of readers, so an unknown key, a wrong
// type or a bad value is an error naming "origins[2].members[1].url" and its
// file:line, like every other key.
#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "checks.hpp"
#include "relay/config/rate_limit.hpp"
#include "text.hpp"
#include "loader.hpp"
#include "table_reader.hpp"
#include "values.hpp"

namespace relay::config {

std::string_view name_of(Balance v) noexcept {
  switch (v) {
    case Balance::RoundRobin: return "round-robin";
    case Balance::LeastConnections: return "least-connections";
    case Balance::ConsistentHash: return "consistent-hash";
  }
  return "round-robin";
}

bool host_matches(std::string_view pattern, std::string_view host) noexcept {
  const auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  if (pattern.empty()) return true;
  if (pattern.starts_with("*.")) {
    const auto suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && same(host.substr(host.size() - suffix.size()), suffix);
  }
  return same(pattern, host);
}

namespace {
// What a pool takes from [upstream] unless it says otherwise.
OriginPool pool_defaults(const UpstreamConfig& up) {
  OriginPool pool;
  pool.connect_timeout = up.connect_timeout;
  pool.first_byte_timeout = up.first_byte_timeout;
  pool.idle_timeout = up.idle_timeout;
  pool.queue_timeout = up.queue_timeout;
  pool.max_connections = up.max_connections;
  pool.preserve_host = up.preserve_host;
  pool.tls = up.tls;
  return pool;
}
}  // namespace

bool same_topology(const std::vector<OriginPool>& a, const std::vector<OriginPool>& b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const OriginPool& x, const OriginPool& y) {
    return x.name == y.name && x.members == y.members && x.balance == y.balance &&
           x.health_check == y.health_check && x.passive == y.passive && x.retry == y.retry;
  });
}

namespace detail {
namespace {

int line_at(const toml::key& key, const toml::node& node) {
  return static_cast<int>(key.source().begin.line ? key.source().begin.line : node.source().begin.line);
}

// A Host pattern: a host name or IP literal, optionally "*." in front.
bool valid_host_pattern(std::string_view s) {
  if (s.starts_with("*.")) s.remove_prefix(2);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']';
  });
}

// Fields whose edit would break message framing or routing.
bool framing_field(std::string_view name) {
  static const std::set<std::string, std::less<>> kFixed = {"content-length", "transfer-encoding", "connection",
                                                            "host", "upgrade", "te", "trailer"};
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kFixed.contains(lower);
}

}  // namespace

int int_in(const toml::node& node, int low, int high) {
  const auto v = value_of<std::int64_t>(Kind::Int, node);
  if (v < low || v > high)
    throw std::invalid_argument("must be " + std::to_string(low) + ".." + std::to_string(high) + ", got " +
                                std::to_string(v));
  return static_cast<int>(v);
}

Duration positive_duration(const toml::node& node) {
  const auto d = value_of<Duration>(Kind::Duration, node);
  if (d.count() <= 0) throw std::invalid_argument("must be greater than 0");
  return d;
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

void read_table(Loader& ld, const toml::node& node, const std::string& name, const Readers& readers) {
  const auto* t = node.as_table();
  const std::string at = describe(ld.in_file(static_cast<int>(node.source().begin.line))) + ": " + name + ": ";
  if (!t) throw ConfigError(at + "expected a table, got " + shown(node));
  for (const auto& [key, value] : *t) {
    const std::string path = name + "." + std::string(key.str());
    const std::string here = describe(ld.in_file(line_at(key, value))) + ": " + path + ": ";
    const auto reader = readers.find(key.str());
    if (reader == readers.end()) throw ConfigError(here + (value.is_table() ? "unknown table" : "unknown key"));
    try {
      reader->second(value, here);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(here + e.what());
    }
    ld.origin[path] = ld.in_file(line_at(key, value));
  }
}

static void check_edited_name(const std::string& field) {
  if (!is_token(field)) throw std::invalid_argument("expected a field name, got \"" + field + "\"");
  if (framing_field(field))
    throw std::invalid_argument("\"" + field + "\" cannot be edited (it frames or routes the message)");
}

std::vector<std::pair<std::string, std::string>> field_values(const toml::node& n) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* t = n.as_table();
  if (!t) throw std::invalid_argument("expected a table of field = \"value\", got " + shown(n));
  for (const auto& [key, value] : *t) {
    const std::string field(key.str());
    check_edited_name(field);
    const auto* s = value.as_string();
    if (!s) throw std::invalid_argument("\"" + field + "\": expected a string value, got " + shown(value));
    const std::string& text = s->get();
    if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      throw std::invalid_argument("\"" + field + "\": a value may not hold CR, LF or NUL");
    out.emplace_back(field, text);
  }
  return out;
}

static HeaderEdits read_edits(Loader& ld, const toml::node& node, const std::string& name) {
  HeaderEdits edits;
  read_table(ld, node, name,
             Readers{{"remove",
                      [&](const toml::node& n, const std::string&) {
                        edits.remove = value_of<std::vector<std::string>>(Kind::StringList, n);
                        for (const auto& field : edits.remove) check_edited_name(field);
                      }},
                     {"set", [&](const toml::node& n, const std::string&) { edits.set = field_values(n); }},
                     {"add", [&](const toml::node& n, const std::string&) { edits.add = field_values(n); }}});
  return edits;
}

static OriginMember read_member(Loader& ld, const toml::node& node, const std::string& name) {
  OriginMember member;
  if (const auto* s = node.as_string()) {
    member.url = s->get();
  } else {
    read_table(ld, node, name,
               Readers{{"url", [&](const toml::node& n, const std::string&) {
                          member.url = value_of<std::string>(Kind::String, n);
                        }},
                       {"weight", [&](const toml::node& n, const std::string&) { member.weight = int_in(n, 1, 1000); }},
                       {"priority",
                        [&](const toml::node& n, const std::string&) { member.priority = int_in(n, 1, 1000); }}});
  }
  const std::string at = describe(ld.in_file(static_cast<int>(node.source().begin.line))) + ": " + name;
  if (member.url.empty()) throw ConfigError(at + ": missing required key \"url\"");
  try {
    UpstreamUrl::parse(member.url);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(at + ".url: " + e.what());
  }
  return member;
}

static OriginPool read_origin(Loader& ld, const toml::node& node, const std::string& name) {
  OriginPool pool = pool_defaults(ld.cfg.upstream);
  pool.line = static_cast<int>(node.source().begin.line);
  auto& hc = pool.health_check;
  auto& passive = pool.passive;
  Readers readers{
      {"name", [&](const toml::node& n, const std::string&) { pool.name = value_of<std::string>(Kind::String, n); }},
      {"members",
       [&](const toml::node& n, const std::string&) {
         const auto* list = n.as_array();
         if (!list) throw std::invalid_argument("expected an array of { url = ..., priority = ... }, got " + shown(n));
         for (const auto& m : *list)
           pool.members.push_back(read_member(ld, m, name + ".members[" + std::to_string(pool.members.size() + 1) + "]"));
       }},
      {"balance",
       [&](const toml::node& n, const std::string&) {
         const auto text = value_of<std::string>(Kind::String, n);
         for (auto b : {Balance::RoundRobin, Balance::LeastConnections, Balance::ConsistentHash})
           if (text == name_of(b)) return void(pool.balance = b);
         throw std::invalid_argument("expected \"round-robin\", \"least-connections\" or \"consistent-hash\", got \"" +
                                     text + "\"");
       }},
      {"connect_timeout", [&](const toml::node& n, const std::string&) { pool.connect_timeout = positive_duration(n); }},
      {"first_byte_timeout",
       [&](const toml::node& n, const std::string&) { pool.first_byte_timeout = positive_duration(n); }},
      {"idle_timeout", [&](const toml::node& n, const std::string&) { pool.idle_timeout = positive_duration(n); }},
      {"queue_timeout", [&](const toml::node& n, const std::string&) { pool.queue_timeout = positive_duration(n); }},
      {"max_connections",
       [&](const toml::node& n, const std::string&) { pool.max_connections = int_in(n, 1, 1'000'000); }},
      {"preserve_host",
       [&](const toml::node& n, const std::string&) { pool.preserve_host = value_of<bool>(Kind::Bool, n); }},
      {"host",
       [&](const toml::node& n, const std::string&) {
         pool.host = value_of<std::string>(Kind::String, n);
         if (!valid_host_pattern(pool.host) || pool.host.starts_with("*."))
           throw std::invalid_argument("expected a host name (with an optional :port), got \"" + pool.host + "\"");
       }},
      {"retry", [&](const toml::node& n, const std::string&) { pool.retry = value_of<bool>(Kind::Bool, n); }},
      {"tls",
       [&](const toml::node& n, const std::string&) {
         auto& tls = pool.tls;
         const auto text = [](const toml::node& v) { return value_of<std::string>(Kind::String, v); };
         read_table(ld, n, name + ".tls",
                    Readers{{"ca_file", [&](const toml::node& v, const std::string&) { tls.ca_file = text(v); }},
                            {"ca_path", [&](const toml::node& v, const std::string&) { tls.ca_path = text(v); }},
                            {"verify", [&](const toml::node& v, const std::string&) { tls.verify = value_of<bool>(Kind::Bool, v); }},
                            {"sni", [&](const toml::node& v, const std::string&) { tls.sni = text(v); }},
                            {"client_cert", [&](const toml::node& v, const std::string&) { tls.client_cert = text(v); }},
                            {"client_key", [&](const toml::node& v, const std::string&) { tls.client_key = text(v); }},
                            {"min_version",
                             [&](const toml::node& v, const std::string&) { parse_text(text(v), tls.min_version); }}});
         if (auto problem = validate_upstream_tls(tls))
           throw std::invalid_argument(problem->key + ": " + problem->message);
       }},
      {"health_check",
       [&](const toml::node& n, const std::string&) {
         read_table(ld, n, name + ".health_check",
                    Readers{{"path",
                             [&](const toml::node& v, const std::string&) {
                               hc.path = value_of<std::string>(Kind::String, v);
                               if (!hc.path.starts_with('/'))
                                 throw std::invalid_argument("must start with '/', got \"" + hc.path + "\"");
                             }},
                            {"interval",
                             [&](const toml::node& v, const std::string&) {
                               hc.interval = positive_duration(v);
                               if (hc.interval < Duration(100)) throw std::invalid_argument("must be at least 100ms");
                             }},
                            {"timeout", [&](const toml::node& v, const std::string&) { hc.timeout = positive_duration(v); }},
                            {"jitter",
                             [&](const toml::node& v, const std::string&) {
                               hc.jitter = value_of<Duration>(Kind::Duration, v);
                             }},
                            {"expected_status",
                             [&](const toml::node& v, const std::string&) {
                               hc.expected_status = int_in(v, 0, 599);
                               if (hc.expected_status != 0 && hc.expected_status < 100)
                                 throw std::invalid_argument("must be 0 (any 2xx or 3xx) or 100..599");
                             }},
                            {"rise", [&](const toml::node& v, const std::string&) { hc.rise = int_in(v, 1, 100); }},
                            {"fall", [&](const toml::node& v, const std::string&) { hc.fall = int_in(v, 1, 100); }},
                            {"host", [&](const toml::node& v, const std::string&) {
                               hc.host = value_of<std::string>(Kind::String, v);
                             }}});
         if (hc.enabled() && hc.timeout > hc.interval)
           throw std::invalid_argument("timeout (" + std::to_string(hc.timeout.count()) +
                                       "ms) must not exceed interval (" + std::to_string(hc.interval.count()) + "ms)");
       }},
      {"passive",
       [&](const toml::node& n, const std::string&) {
         read_table(ld, n, name + ".passive",
                    Readers{{"failures",
                             [&](const toml::node& v, const std::string&) { passive.failures = int_in(v, 0, 1000); }},
                            {"on_5xx",
                             [&](const toml::node& v, const std::string&) { passive.on_5xx = value_of<bool>(Kind::Bool, v); }},
                            {"cooldown",
                             [&](const toml::node& v, const std::string&) { passive.cooldown = positive_duration(v); }}});
       }},
  };
  read_table(ld, node, name, readers);
  const std::string at = describe(ld.in_file(pool.line)) + ": " + name;
  if (pool.name.empty()) throw ConfigError(at + ": missing required key \"name\"");
  if (!valid_name(pool.name))
    throw ConfigError(at + ".name: expected letters, digits, '-', '_' or '.', got \"" + pool.name + "\"");
  if (pool.members.empty()) throw ConfigError(at + ": missing required key \"members\" (at least one { url = ... })");
  return pool;
}

static Route read_route(Loader& ld, const toml::node& node, const std::string& name) {
  Route route;
  route.line = static_cast<int>(node.source().begin.line);
  Readers readers{
      {"name", [&](const toml::node& n, const std::string&) { route.name = value_of<std::string>(Kind::String, n); }},
      {"host",
       [&](const toml::node& n, const std::string&) {
         route.host = value_of<std::string>(Kind::String, n);
         if (!valid_host_pattern(route.host))
           throw std::invalid_argument("expected a host name or \"*.example.com\", got \"" + route.host + "\"");
       }},
      {"path",
       [&](const toml::node& n, const std::string&) {
         route.path = value_of<std::string>(Kind::String, n);
         if (!route.path.starts_with('/') && !route.path.starts_with('*'))
           throw std::invalid_argument("must start with '/' or '*', got \"" + route.path + "\"");
       }},
      {"origin",
       [&](const toml::node& n, const std::string&) { route.origin = value_of<std::string>(Kind::String, n); }},
      {"max_body_size",
       [&](const toml::node& n, const std::string&) {
         route.max_body_size = value_of<std::uint64_t>(Kind::Size, n);
       }},
      {"rate_limit",
       [&](const toml::node& n, const std::string&) {
         const auto* table = n.as_table();
         if (!table) throw std::invalid_argument("expected a table like { rate = 5, burst = 5, key = \"client\" }, got " + shown(n));
         route.rate_limit = parse_rate_limit(*table, name + ".rate_limit", ld.source);
       }},
      {"upgrades",
       [&](const toml::node& n, const std::string&) {
         route.upgrades = value_of<std::vector<std::string>>(Kind::StringList, n);
         for (const auto& token : *route.upgrades)
           if (!is_token(token)) throw std::invalid_argument("expected protocol tokens like \"websocket\", got \"" + token + "\"");
       }},
      {"honour_client_no_cache",
       [&](const toml::node& n, const std::string&) { route.honour_client_no_cache = value_of<bool>(Kind::Bool, n); }},
      {"request_headers",
       [&](const toml::node& n, const std::string&) {
         route.request_headers = read_edits(ld, n, name + ".request_headers");
       }},
      {"response_headers",
       [&](const toml::node& n, const std::string&) {
         route.response_headers = read_edits(ld, n, name + ".response_headers");
       }},
      {"cache_rules",
       [&](const toml::node& n, const std::string&) {
         const auto* list = n.as_array();
         if (!list) throw std::invalid_argument("expected an array of tables ([[routes.cache_rules]]), got " + shown(n));
         for (const auto& entry : *list) {
           const std::string rule_name = name + ".cache_rules[" + std::to_string(route.cache_rules.size() + 1) + "]";
           route.cache_rules.push_back(ld.parse_rule(entry, rule_name, "[[routes.cache_rules]]"));
         }
       }},
  };
  read_table(ld, node, name, readers);
  if (route.name.empty()) route.name = name;
  return route;
}

void Loader::apply_gateway() {
  auto& pools = cfg.origins;
  static const toml::array kNone;
  for (const auto& entry : origins_node ? *origins_node : kNone)
    pools.push_back(read_origin(*this, entry, "origins[" + std::to_string(pools.size() + 1) + "]"));
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < pools.size(); ++i)
    if (!names.insert(pools[i].name).second)
      throw ConfigError(describe(in_file(pools[i].line)) + ": origins[" + std::to_string(i + 1) + "].name: \"" +
                        pools[i].name + "\" is already the name of another pool");
  const bool upstream_named = origin.contains("upstream.url");
  const bool with_default = pools.empty() || upstream_named;
  if (with_default && names.contains("default"))
    throw ConfigError(describe(origin.at("origins")) +
                      ": origins: a pool is named \"default\", the name [upstream] url takes; rename it or drop "
                      "upstream.url");
  if (with_default) names.insert("default");

  auto& routes = cfg.routes;
  std::set<std::string, std::less<>> route_names;
  for (const auto& entry : routes_node ? *routes_node : kNone) {
    const std::string name = "routes[" + std::to_string(routes.size() + 1) + "]";
    Route route = read_route(*this, entry, name);
    const std::string at = describe(in_file(route.line)) + ": " + name;
    if (route.origin.empty()) {
      if (!with_default)
        throw ConfigError(at + ": missing required key \"origin\" (no default pool: [upstream] url is not set)");
      route.origin = "default";
    } else if (!names.contains(route.origin)) {
      throw ConfigError(at + ".origin: no [[origins]] pool is named \"" + route.origin + "\"");
    }
    if (!route_names.insert(route.name).second)
      throw ConfigError(at + ".name: \"" + route.name + "\" is already the name of another route");
    routes.push_back(std::move(route));
  }
  complete_gateway(cfg, upstream_named);
}

}  // namespace detail

void complete_gateway(Config& cfg, bool upstream_named) {
  auto& pools = cfg.origins;
  const bool had_pools = !pools.empty();
  if (!had_pools || upstream_named) {
    OriginPool pool = pool_defaults(cfg.upstream);
    pool.name = "default";
    pool.members.push_back(OriginMember{cfg.upstream.url.text, 1, 1});
    pool.passive.failures = 0;  // one member: nowhere else to go
    pool.retry = false;
    pools.insert(pools.begin(), std::move(pool));
  }
  // Requests no route takes go to the default pool, or with neither routes
  // nor a default pool to the first pool; otherwise they get a 404.
  const bool with_default = pools.front().name == "default" && (!had_pools || upstream_named);
  auto& routes = cfg.routes;
  if (!with_default && !routes.empty()) return;
  Route catch_all;
  catch_all.name = "default";
  for (const auto& route : routes)
    if (route.name == catch_all.name) catch_all.name = "(fallback)";
  catch_all.origin = pools.front().name;
  routes.push_back(std::move(catch_all));
}

}  // namespace relay::config
