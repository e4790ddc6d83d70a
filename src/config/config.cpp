// Owns the config schema (kFields: one row per key), reading it from TOML,
// applying RELAY_* environment overrides and validating the merged result.
// File and env go through the same rows, so a new key is a default in
// config.hpp plus one row here; the row also defines its env variable name.
// [[cache.rules]] entries are read through rows of their own (kRuleFields),
// with the same value parsers, and come from the file only.
// Every error carries where the value came from ("file:line" or
// "environment RELAY_X") and the full dotted key; the same record of sources
// is returned with the config (LoadResult) for --print-config.
#include "relay/config/config.hpp"
#include "relay/config/schema.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <type_traits>
#include <utility>
#include <variant>

#include <toml++/toml.h>

extern char** environ;  // POSIX; <unistd.h> only declares it under _GNU_SOURCE

namespace relay::config {
namespace {

// Kind and Value come from schema.hpp; mismatch() indexes its "expected ..."
// texts by Kind.
// A row sets one member of Root (Config for the sections, CacheRule for
// rules) and reads it back; get gives nullopt for a rule's unset override.
template <typename Root>
struct FieldOf {
  std::string_view path;
  Kind kind;
  void (*set)(Root&, Value&&);
  std::optional<Value> (*get)(const Root&);
};
using Field = FieldOf<Config>;

template <typename M>
struct ClassOf;
template <typename C, typename T>
struct ClassOf<T C::*> {
  using type = C;
};
// A std::optional member (a rule's override) takes the Kind of what it holds.
template <typename T>
struct Unwrap {
  using type = T;
};
template <typename T>
struct Unwrap<std::optional<T>> {
  using type = T;
};

template <Kind K, typename T>
constexpr bool kCompatible =
    (K == Kind::String && std::is_same_v<T, std::string>) ||
    (K == Kind::Int && (std::is_same_v<T, int> || std::is_same_v<T, std::uint64_t>)) ||
    (K == Kind::Bool && std::is_same_v<T, bool>) ||
    (K == Kind::Duration && std::is_same_v<T, Duration>) ||
    (K == Kind::Size && std::is_same_v<T, std::uint64_t>) ||
    (K == Kind::StringList && std::is_same_v<T, std::vector<std::string>>);

// Narrowing to the member's type happens here, so an out-of-range value is
// reported like any other bad value (with its location) instead of wrapping.
template <typename T>
T convert(Value&& v) {
  if constexpr (std::is_same_v<T, int>) {
    const auto n = std::get<std::int64_t>(v);
    if (n < INT_MIN || n > INT_MAX) throw std::invalid_argument("out of range, got " + std::to_string(n));
    return static_cast<int>(n);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    if (const auto* n = std::get_if<std::int64_t>(&v)) {
      if (*n < 0) throw std::invalid_argument("must not be negative, got " + std::to_string(*n));
      return static_cast<std::uint64_t>(*n);
    }
    return std::get<std::uint64_t>(v);
  } else {
    return std::get<T>(std::move(v));
  }
}

// The member's value as the Value its Kind holds (an int as std::int64_t).
template <Kind K, typename T>
std::optional<Value> to_value(const T& v) {
  if constexpr (requires { v.has_value(); }) {
    if (!v) return std::nullopt;
    return to_value<K>(*v);
  } else if constexpr (K == Kind::Int) {
    return Value(std::in_place_type<std::int64_t>, static_cast<std::int64_t>(v));
  } else {
    return Value(std::in_place_type<T>, v);
  }
}

// Members is a chain of pointers-to-member from the root down to the field
// (e.g. &Config::cache, &CacheConfig::key, &CacheKeyConfig::headers); the
// static_assert catches a row whose Kind doesn't fit the member's type.
template <Kind K, auto First, auto... Members>
constexpr auto row(std::string_view path) {
  using Root = typename ClassOf<decltype(First)>::type;
  using T = typename Unwrap<
      std::remove_cvref_t<decltype(((std::declval<Root&>() .* First) .* ... .* Members))>>::type;
  static_assert(kCompatible<K, T>, "Kind does not match the member's type");
  return FieldOf<Root>{path, K,
                       [](Root& c, Value&& v) {
                         auto& slot = ((c .* First) .* ... .* Members);
                         slot = convert<T>(std::move(v));
                       },
                       [](const Root& c) { return to_value<K>(((c .* First) .* ... .* Members)); }};
}

using C = Config;
using K = Kind;
constexpr Field kFields[] = {
    row<K::String, &C::server, &ServerConfig::listen>("server.listen"),
    row<K::Int, &C::server, &ServerConfig::threads>("server.threads"),
    row<K::Size, &C::server, &ServerConfig::max_header_size>("server.max_header_size"),
    row<K::Size, &C::server, &ServerConfig::max_url_length>("server.max_url_length"),
    row<K::Duration, &C::server, &ServerConfig::header_timeout>("server.header_timeout"),
    row<K::Duration, &C::server, &ServerConfig::idle_timeout>("server.idle_timeout"),
    row<K::Duration, &C::server, &ServerConfig::body_timeout>("server.body_timeout"),
    row<K::Size, &C::server, &ServerConfig::min_body_rate>("server.min_body_rate"),
    row<K::Duration, &C::server, &ServerConfig::shutdown_grace>("server.shutdown_grace"),
    row<K::Int, &C::server, &ServerConfig::max_connections>("server.max_connections"),
    row<K::String, &C::upstream, &UpstreamConfig::url>("upstream.url"),
    row<K::Duration, &C::upstream, &UpstreamConfig::connect_timeout>("upstream.connect_timeout"),
    row<K::Duration, &C::upstream, &UpstreamConfig::first_byte_timeout>("upstream.first_byte_timeout"),
    row<K::Duration, &C::upstream, &UpstreamConfig::idle_timeout>("upstream.idle_timeout"),
    row<K::Int, &C::upstream, &UpstreamConfig::max_connections>("upstream.max_connections"),
    row<K::Duration, &C::upstream, &UpstreamConfig::queue_timeout>("upstream.queue_timeout"),
    row<K::Bool, &C::upstream, &UpstreamConfig::preserve_host>("upstream.preserve_host"),
    row<K::Duration, &C::cache, &CacheConfig::default_ttl>("cache.default_ttl"),
    row<K::Size, &C::cache, &CacheConfig::max_object_size>("cache.max_object_size"),
    row<K::Duration, &C::cache, &CacheConfig::heuristic_max>("cache.heuristic_max"),
    row<K::Duration, &C::cache, &CacheConfig::stale_while_revalidate>("cache.stale_while_revalidate"),
    row<K::Duration, &C::cache, &CacheConfig::stale_if_error>("cache.stale_if_error"),
    row<K::StringList, &C::cache, &CacheConfig::targeted_fields>("cache.targeted_fields"),
    row<K::Bool, &C::cache, &CacheConfig::strip_targeted_fields>("cache.strip_targeted_fields"),
    row<K::String, &C::cache, &CacheConfig::status_name>("cache.status_name"),
    row<K::String, &C::cache, &CacheConfig::set_cookie>("cache.set_cookie"),
    row<K::StringList, &C::cache, &CacheConfig::strip_request_headers>("cache.strip_request_headers"),
    row<K::Bool, &C::cache, &CacheConfig::key, &CacheKeyConfig::sort_query>("cache.key.sort_query"),
    row<K::StringList, &C::cache, &CacheConfig::key, &CacheKeyConfig::ignore_params>(
        "cache.key.ignore_params"),
    row<K::StringList, &C::cache, &CacheConfig::key, &CacheKeyConfig::headers>("cache.key.headers"),
    row<K::Bool, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::enabled>("cache.coalesce.enabled"),
    row<K::Duration, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::follower_timeout>(
        "cache.coalesce.follower_timeout"),
    row<K::Duration, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::max_fill_age>("cache.coalesce.max_fill_age"),
    row<K::Duration, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::hit_for_miss>("cache.coalesce.hit_for_miss"),
    row<K::Bool, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::distributed>("cache.coalesce.distributed"),
    row<K::String, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::degraded>("cache.coalesce.degraded"),
    row<K::String, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::spool_dir>("cache.coalesce.spool_dir"),
    row<K::Size, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::spool_memory>("cache.coalesce.spool_memory"),
    row<K::String, &C::storage, &StorageConfig::backend>("storage.backend"),
    row<K::Size, &C::storage, &StorageConfig::max_size>("storage.max_size"),
    row<K::String, &C::storage, &StorageConfig::eviction>("storage.eviction"),
    row<K::String, &C::storage, &StorageConfig::tier>("storage.tier"),
    row<K::Duration, &C::storage, &StorageConfig::keep_time>("storage.keep_time"),
    row<K::String, &C::storage, &StorageConfig::compression>("storage.compression"),
    row<K::Int, &C::storage, &StorageConfig::compression_level>("storage.compression_level"),
    row<K::Size, &C::storage, &StorageConfig::compression_min_size>("storage.compression_min_size"),
    row<K::StringList, &C::storage, &StorageConfig::compression_types>("storage.compression_types"),
    row<K::String, &C::storage, &StorageConfig::disk, &DiskStorageConfig::path>("storage.disk.path"),
    row<K::Size, &C::storage, &StorageConfig::disk, &DiskStorageConfig::max_size>("storage.disk.max_size"),
    row<K::Size, &C::storage, &StorageConfig::disk, &DiskStorageConfig::min_free_space>(
        "storage.disk.min_free_space"),
    row<K::Int, &C::storage, &StorageConfig::disk, &DiskStorageConfig::io_threads>("storage.disk.io_threads"),
    row<K::String, &C::storage, &StorageConfig::redis, &RedisStorageConfig::url>("storage.redis.url"),
    row<K::String, &C::storage, &StorageConfig::redis, &RedisStorageConfig::key_prefix>(
        "storage.redis.key_prefix"),
    row<K::Duration, &C::storage, &StorageConfig::redis, &RedisStorageConfig::connect_timeout>(
        "storage.redis.connect_timeout"),
    row<K::Duration, &C::storage, &StorageConfig::redis, &RedisStorageConfig::command_timeout>(
        "storage.redis.command_timeout"),
    row<K::Size, &C::storage, &StorageConfig::redis, &RedisStorageConfig::chunk_size>("storage.redis.chunk_size"),
    row<K::Duration, &C::maintenance, &MaintenanceConfig::interval>("maintenance.interval"),
    row<K::String, &C::maintenance, &MaintenanceConfig::lock>("maintenance.lock"),
    row<K::Bool, &C::metrics, &MetricsConfig::enabled>("metrics.enabled"),
    row<K::String, &C::metrics, &MetricsConfig::path>("metrics.path"),
    row<K::String, &C::log, &LogConfig::level>("log.level"),
    row<K::String, &C::log, &LogConfig::format>("log.format"),
    row<K::String, &C::log, &LogConfig::access_log>("log.access_log"),
};

// One [[cache.rules]] entry; the paths are relative to the rule.
using R = CacheRule;
constexpr FieldOf<CacheRule> kRuleFields[] = {
    row<K::String, &R::path>("path"),
    row<K::Duration, &R::ttl>("ttl"),
    row<K::Duration, &R::default_ttl>("default_ttl"),
    row<K::Duration, &R::stale_while_revalidate>("stale_while_revalidate"),
    row<K::Duration, &R::stale_if_error>("stale_if_error"),
    row<K::Bool, &R::bypass>("bypass"),
    row<K::StringList, &R::ignore_params>("ignore_params"),
    row<K::StringList, &R::key_headers>("key_headers"),
    row<K::String, &R::set_cookie>("set_cookie"),
    row<K::StringList, &R::strip_request_headers>("strip_request_headers"),
};
constexpr std::string_view kRules = "cache.rules";

template <typename Root, std::size_t N>
const FieldOf<Root>* find_field(const FieldOf<Root> (&fields)[N], std::string_view path) {
  for (const auto& f : fields)
    if (f.path == path) return &f;
  return nullptr;
}

// A section is any proper prefix of a key path, so tables need no own list.
bool is_section(std::string_view path) {
  return std::any_of(std::begin(kFields), std::end(kFields), [&](const Field& f) {
    return f.path.size() > path.size() && f.path.starts_with(path) && f.path[path.size()] == '.';
  });
}

std::string env_name(std::string_view path) {
  std::string name = "RELAY_";
  for (char ch : path)
    name += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

std::invalid_argument mismatch(Kind k, const std::string& got) {
  constexpr const char* kExpected[] = {"a string", "an integer", "a boolean", "a duration like \"30s\"",
                                       "a size like \"64MiB\"", "an array of strings"};
  return std::invalid_argument("expected " + std::string(kExpected[static_cast<int>(k)]) + ", got " + got);
}

std::string shown(const toml::node& n) {
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  // toml++ would print 'abc'; double quotes match how env values are shown.
  if (const auto* s = n.as_string()) return "\"" + s->get() + "\"";
  std::ostringstream os;
  n.visit([&](const auto& v) { os << v; });
  return os.str();
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

Value from_node(Kind k, const toml::node& n) {
  const auto* i = n.as_integer();
  const auto* s = n.as_string();
  if (k == Kind::String && s) return s->get();
  if (k == Kind::Int && i) return i->get();
  if (k == Kind::Bool && n.is_boolean()) return n.as_boolean()->get();
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
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc{} && !text.empty() && end == text.data() + text.size()) return n;
  } catch (const std::invalid_argument&) {
  }
  throw mismatch(k, quoted);
}

bool valid_port(std::string_view p) {
  unsigned n = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
  return ec == std::errc{} && !p.empty() && end == p.data() + p.size() && n >= 1 && n <= 65535;
}

bool valid_host_port(std::string_view s) {
  if (s.find_first_of(" \t\r\n/") != std::string_view::npos) return false;
  if (s.starts_with('[')) {
    const auto close = s.find("]:");
    return close != std::string_view::npos && close > 1 && valid_port(s.substr(close + 2));
  }
  // A second ':' means an unbracketed IPv6 address, where the port is ambiguous.
  const auto colon = s.rfind(':');
  return colon != std::string_view::npos && colon > 0 && s.find(':') == colon &&
         valid_port(s.substr(colon + 1));
}

bool valid_url(std::string_view u) {
  if (u.find_first_of(" \t\r\n") != std::string_view::npos) return false;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!u.starts_with(scheme)) continue;
    auto authority = u.substr(scheme.size());
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    if (authority.empty() || authority.front() == ':') return false;
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos || authority.substr(colon).find(']') != std::string_view::npos)
      return true;  // no port
    return valid_port(authority.substr(colon + 1));
  }
  return false;
}

// RFC 9110 §5.6.2 token: field names, and the cache name in Cache-Status.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char ch) {
    return std::isalnum(ch) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) != std::string_view::npos;
  });
}

bool valid_set_cookie(std::string_view v) { return v == "pass" || v == "strip" || v == "store"; }

// Throws naming the first entry that is not a header field name.
void check_field_names(const std::vector<std::string>& names, const std::string& where) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (!is_token(names[i]))
      throw ConfigError(where + "expected header field names, got \"" + names[i] + "\" at index " +
                        std::to_string(i));
}

// A media type to match Content-Type against: "type/subtype", where the
// subtype may be '*' ("text/*"). No parameters, no other wildcards.
bool is_media_range(std::string_view s) {
  const auto plain = [](std::string_view t) { return is_token(t) && t.find('*') == std::string_view::npos; };
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  const auto subtype = s.substr(slash + 1);
  return plain(s.substr(0, slash)) && (subtype == "*" || plain(subtype));
}

// redis://[:password@]host[:port][/db]; host is a name, an IPv4 address or a
// bracketed IPv6 address, port 1..65535, db a non-negative integer.
bool valid_redis_url(std::string_view u) {
  constexpr std::string_view kScheme = "redis://";
  if (!u.starts_with(kScheme) || u.find_first_of(" \t\r\n") != std::string_view::npos) return false;
  auto rest = u.substr(kScheme.size());
  // The last '@' ends the password, which may itself hold '@' or '/'.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    if (at < 2 || rest.front() != ':') return false;
    rest.remove_prefix(at + 1);
  }
  const auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    const auto db = rest.substr(slash + 1);
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), n);
    if (ec != std::errc{} || db.empty() || end != db.data() + db.size()) return false;
  }
  auto host = rest.substr(0, slash);
  std::string_view port;
  std::string_view allowed = "-._";
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    const auto after = host.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return false;
    port = after;
    host = host.substr(1, close - 1);
    allowed = ":.%";
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
  }
  if (!port.empty() && !valid_port(port.substr(1))) return false;
  return !host.empty() && std::all_of(host.begin(), host.end(), [&](unsigned char ch) {
    return std::isalnum(ch) || allowed.find(static_cast<char>(ch)) != std::string_view::npos;
  });
}

// The url as it may appear in a message: a password is replaced by "***".
std::string without_password(const std::string& url) {
  const auto at = url.rfind('@');
  const auto colon = url.find(':', std::string_view("redis://").size());
  if (!url.starts_with("redis://") || at == std::string::npos || colon == std::string::npos || colon > at)
    return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// A key's line, falling back to its value's (toml++ may not record both).
int line_of(const toml::key& key, const toml::node& node) {
  return static_cast<int>(key.source().begin.line ? key.source().begin.line : node.source().begin.line);
}

struct Loader {
  Config cfg;
  Sources origin;  // where each key's current value came from
  std::string source;

  Source in_file(int line) const { return {Source::From::File, source, line}; }

  void apply_table(const toml::table& t, const std::string& prefix) {
    for (const auto& [key, node] : t) {
      const std::string path = (prefix.empty() ? "" : prefix + ".") + std::string(key.str());
      const Source here = in_file(line_of(key, node));
      const std::string at = describe(here);
      const std::string where = at + ": " + path + ": ";
      // A quoted key like "server.listen" is not the dotted key server.listen.
      const bool plain = key.str().find('.') == std::string_view::npos;
      if (plain && path == kRules) {
        apply_rules(node, where);
      } else if (const Field* f = plain ? find_field(kFields, path) : nullptr) {
        try {
          f->set(cfg, from_node(f->kind, node));
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
  void apply_rules(const toml::node& node, const std::string& where) {
    const auto* list = node.as_array();
    if (!list) throw ConfigError(where + "expected an array of tables ([[cache.rules]]), got " + shown(node));
    for (const auto& entry : *list) {
      const std::size_t index = cfg.cache.rules.size();
      const std::string name = rule_source_key(index);
      const int line = static_cast<int>(entry.source().begin.line);
      const std::string at = describe(in_file(line)) + ": " + name;
      const auto* t = entry.as_table();
      if (!t) throw ConfigError(at + ": expected a table ([[cache.rules]]), got " + shown(entry));
      CacheRule rule;
      rule.line = line;
      for (const auto& [key, value] : *t) {
        const int key_line = line_of(key, value);
        const std::string here = describe(in_file(key_line)) + ": " + name + "." + std::string(key.str()) + ": ";
        const auto* f = find_field(kRuleFields, key.str());
        if (!f) throw ConfigError(here + (value.is_table() ? "unknown table" : "unknown key"));
        try {
          f->set(rule, from_node(f->kind, value));
        } catch (const std::invalid_argument& e) {
          throw ConfigError(here + e.what());
        }
        if (key.str() == "path" && !rule.path.starts_with('/') && !rule.path.starts_with('*'))
          throw ConfigError(here + "must start with '/' or '*', got \"" + rule.path + "\"");
        if (key.str() == "set_cookie" && !valid_set_cookie(*rule.set_cookie))
          throw ConfigError(here + "expected pass, strip or store, got \"" + *rule.set_cookie + "\"");
        if (key.str() == "strip_request_headers") check_field_names(*rule.strip_request_headers, here);
        origin[rule_source_key(index, key.str())] = in_file(key_line);
      }
      if (!t->contains("path")) throw ConfigError(at + ": missing required key \"path\"");
      origin[name] = in_file(line);
      cfg.cache.rules.push_back(std::move(rule));
    }
  }

  // Typos are rejected rather than ignored: RELAY_ is reserved for config,
  // and a silently ignored RELAY_SERVER_LISTNE is worse than a refusal.
  void apply_env(const Environment& env) {
    for (const auto& entry : env) {
      const std::string& name = entry.first;  // not a structured binding: lambdas below capture it
      if (!name.starts_with("RELAY_")) continue;
      const auto* f = std::find_if(std::begin(kFields), std::end(kFields),
                                   [&](const Field& fl) { return env_name(fl.path) == name; });
      if (f == std::end(kFields) && name.starts_with(env_name(kRules)))
        throw ConfigError("environment " + name +
                          ": cache.rules can only be set in the config file ([[cache.rules]]), "
                          "not from the environment");
      if (f == std::end(kFields))
        throw ConfigError("environment " + name + ": unknown variable (RELAY_* names config keys only)");
      try {
        f->set(cfg, from_env(f->kind, entry.second));
      } catch (const std::invalid_argument& e) {
        throw ConfigError("environment " + name + ": " + e.what());
      }
      origin[std::string(f->path)] = Source{Source::From::Environment, name, 0};
    }
  }

  [[noreturn]] void fail(std::string_view path, const std::string& msg) const {
    const auto it = origin.find(path);
    throw ConfigError((it == origin.end() ? "" : describe(it->second) + ": ") + std::string(path) + ": " + msg);
  }

  // Every storage key is checked whichever backend is chosen, so a typo in
  // [storage.redis] is caught before the day the backend is switched to it.
  // keep_time, max_size, compression_min_size, disk.max_size and
  // disk.min_free_space take any value (0 included); key_prefix any string.
  template <typename OneOf>
  void validate_storage(const StorageConfig& s, const OneOf& one_of) const {
    const auto got = [](const std::string& v) { return ", got \"" + v + "\""; };
    if (!one_of(s.backend, {"memory", "disk", "redis"}))
      fail("storage.backend", "expected memory, disk or redis" + got(s.backend));
    if (!one_of(s.eviction, {"lru", "lfu", "fifo"}))
      fail("storage.eviction", "expected lru, lfu or fifo" + got(s.eviction));
    if (!one_of(s.tier, {"none", "memory+disk", "memory+redis"}))
      fail("storage.tier", "expected none, memory+disk or memory+redis" + got(s.tier));
    if (s.tier != "none") {
      const auto lower = s.tier.substr(s.tier.find('+') + 1);
      if (s.backend != "memory" && s.backend != lower) {
        const auto it = origin.find("storage.backend");
        fail("storage.tier", "tier = \"" + s.tier + "\" implies the " + lower +
                                 " backend (memory in front of " + lower + "), so storage.backend must be " +
                                 "\"memory\" (its default) or \"" + lower + "\", got \"" + s.backend + "\"" +
                                 (it == origin.end() ? "" : " (" + describe(it->second) + ")"));
      }
    }
    if (!one_of(s.compression, {"none", "zstd"}))
      fail("storage.compression", "expected none or zstd" + got(s.compression));
    if (s.compression_level < 1 || s.compression_level > 19)
      fail("storage.compression_level", "must be 1..19, got " + std::to_string(s.compression_level));
    for (std::size_t i = 0; i < s.compression_types.size(); ++i)
      if (!is_media_range(s.compression_types[i]))
        fail("storage.compression_types", "expected media types like \"text/html\" or \"text/*\"" +
                                              got(s.compression_types[i]) + " at index " + std::to_string(i));
    if (s.disk.path.empty()) fail("storage.disk.path", "must not be empty");
    if (s.disk.io_threads < 1 || s.disk.io_threads > 64)
      fail("storage.disk.io_threads", "must be 1..64, got " + std::to_string(s.disk.io_threads));
    if (!valid_redis_url(s.redis.url))
      fail("storage.redis.url",
           "expected redis://[:password@]host[:port][/db] with port 1..65535 and db a non-negative integer" +
               got(without_password(s.redis.url)));
    if (s.redis.chunk_size < 4096)
      fail("storage.redis.chunk_size", "must be at least 4KiB, got " + std::to_string(s.redis.chunk_size));
  }

  void validate() const {
    const auto& c = cfg;
    if (!valid_host_port(c.server.listen))
      fail("server.listen",
           "expected host:port or [v6]:port with port 1..65535, got \"" + c.server.listen + "\"");
    if (c.server.threads < 0) fail("server.threads", "must be >= 0 (0 = one per core)");
    if (!valid_url(c.upstream.url))
      fail("upstream.url",
           "expected http://host[:port][/path] or https://..., got \"" + c.upstream.url + "\"");
    if (c.upstream.max_connections < 1) fail("upstream.max_connections", "must be >= 1");
    // default_ttl, heuristic_max, the stale windows and maintenance.interval
    // are absent on purpose: 0 turns each off.
    const std::pair<std::string_view, Duration> timeouts[] = {
        {"server.header_timeout", c.server.header_timeout},
        {"server.idle_timeout", c.server.idle_timeout},
        {"server.body_timeout", c.server.body_timeout},
        {"server.shutdown_grace", c.server.shutdown_grace},
        {"upstream.connect_timeout", c.upstream.connect_timeout},
        {"upstream.first_byte_timeout", c.upstream.first_byte_timeout},
        {"upstream.idle_timeout", c.upstream.idle_timeout},
        {"upstream.queue_timeout", c.upstream.queue_timeout},
        {"storage.redis.connect_timeout", c.storage.redis.connect_timeout},
        {"storage.redis.command_timeout", c.storage.redis.command_timeout},
    };
    for (const auto& [path, d] : timeouts)
      if (d.count() <= 0) fail(path, "must be greater than 0");
    // status_name is written into Cache-Status; targeted_fields are field names.
    if (!is_token(c.cache.status_name))
      fail("cache.status_name", "expected a non-empty token (letters, digits, !#$%&'*+-.^_`|~), got \"" +
                                    c.cache.status_name + "\"");
    for (std::string_view path : {"cache.targeted_fields", "cache.strip_request_headers"}) {
      try {
        check_field_names(path == "cache.targeted_fields" ? c.cache.targeted_fields : c.cache.strip_request_headers,
                          "");
      } catch (const ConfigError& e) {
        fail(path, e.what());
      }
    }
    if (!valid_set_cookie(c.cache.set_cookie))
      fail("cache.set_cookie", "expected pass, strip or store, got \"" + c.cache.set_cookie + "\"");
    const auto one_of = [](const std::string& v, std::initializer_list<std::string_view> ok) {
      return std::find(ok.begin(), ok.end(), v) != ok.end();
    };
    validate_storage(c.storage, one_of);
    if (c.metrics.path.empty() || c.metrics.path.front() != '/')
      fail("metrics.path", "must start with '/', got \"" + c.metrics.path + "\"");
    if (!one_of(c.cache.coalesce.degraded, {"local", "fail-open"}))
      fail("cache.coalesce.degraded", "expected local or fail-open, got \"" + c.cache.coalesce.degraded + "\"");
    // A round's lock lives a little less than the interval: it needs room.
    if (c.maintenance.interval.count() != 0 && c.maintenance.interval < Duration(100))
      fail("maintenance.interval", "must be 0 (off) or at least 100ms, got " +
                                       std::to_string(c.maintenance.interval.count()) + "ms");
    if (!one_of(c.maintenance.lock, {"none", "redis"}))
      fail("maintenance.lock", "expected none or redis, got \"" + c.maintenance.lock + "\"");
    if (!one_of(c.log.level, {"error", "warn", "info", "debug"}))
      fail("log.level", "expected error, warn, info or debug, got \"" + c.log.level + "\"");
    if (!one_of(c.log.format, {"text", "json"}))
      fail("log.format", "expected text or json, got \"" + c.log.format + "\"");
  }
};

}  // namespace

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
  Loader ld;
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
  ld.validate();
  return {std::move(ld.cfg), std::move(ld.origin), source_name};
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
  Loader ld;
  ld.apply_env(env);
  ld.validate();
  return {std::move(ld.cfg), std::move(ld.origin), {}};
}

Config load_from_string(std::string_view toml_text, const std::string& source_name, const Environment& env) {
  return load_with_sources(toml_text, source_name, env).config;
}

Config load_from_file(const std::string& path, const Environment& env) {
  return load_file_with_sources(path, env).config;
}

Config load_defaults(const Environment& env) { return load_defaults_with_sources(env).config; }

std::vector<KeyValue> key_values(const Config& cfg) {
  std::vector<KeyValue> out;
  for (const auto& f : kFields) out.push_back({f.path, f.kind, *f.get(cfg)});
  return out;
}

std::vector<KeyValue> key_values(const CacheRule& rule) {
  std::vector<KeyValue> out;
  for (const auto& f : kRuleFields)
    if (auto v = f.get(rule)) out.push_back({f.path, f.kind, std::move(*v)});
  return out;
}

std::string env_variable(std::string_view path) { return env_name(path); }

std::string_view rules_path() { return kRules; }

std::string rule_source_key(std::size_t index_from_0, std::string_view key) {
  std::string out = std::string(kRules) + "[" + std::to_string(index_from_0 + 1) + "]";
  if (!key.empty()) out.append(".").append(key);
  return out;
}

std::string describe(const Source& s) {
  switch (s.from) {
    case Source::From::File: return s.name + ":" + std::to_string(s.line);
    case Source::From::Environment: return "environment " + s.name;
    case Source::From::Default: break;
  }
  return "default";
}

Source LoadResult::source_of(std::string_view path) const {
  const auto it = sources.find(path);
  return it == sources.end() ? Source{} : it->second;
}

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
