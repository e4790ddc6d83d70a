// Owns `relay --print-config`: the effective configuration written as TOML,
// one line per key of the schema (schema.hpp key_values, so a key added to
// kFields is printed with no change here), with its source in a comment.
// Invariant: for a configuration without secrets, loading the output gives
// the same values (tests/unit/test_print_config.cpp checks it for every key).
// Values use the loader's notations: "30s", "64MiB", bytes, plain TOML.
#include "relay/config/print.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

namespace relay::config {
namespace {

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(u));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

struct Printed {
  std::string text;
  bool masked = false;
};

// A string value as it may be shown: whole secrets and URL passwords masked.
std::string shown(std::string_view path, const std::string& v, bool& masked) {
  std::string out = is_secret_key(path) && !v.empty() ? std::string(kMask) : mask_url_password(v);
  masked = masked || out != v;
  return out;
}

Printed toml_value(std::string_view path, const KeyValue& kv) {
  Printed p;
  switch (kv.kind) {
    case Kind::String:
      p.text = quoted(shown(path, std::get<std::string>(kv.value), p.masked));
      break;
    case Kind::Int:
      p.text = std::to_string(std::get<std::int64_t>(kv.value));
      break;
    case Kind::Number: {
      // The shortest text that reads back as the same double (5, 0.5, 1e-06).
      char buf[32];
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::get<double>(kv.value));
      p.text = ec == std::errc{} ? std::string(buf, end) : "0";
      break;
    }
    case Kind::Bool:
      p.text = std::get<bool>(kv.value) ? "true" : "false";
      break;
    case Kind::Duration:
      p.text = quoted(format_duration(std::get<Duration>(kv.value)));
      break;
    case Kind::Size: {
      // Bytes that fit a TOML integer are written as one; the rest as a string.
      const auto bytes = std::get<std::uint64_t>(kv.value);
      const auto text = format_size(bytes);
      const bool integer = text == std::to_string(bytes) &&
                           bytes <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      p.text = integer ? text : quoted(text);
      break;
    }
    case Kind::StringList: {
      std::string items;
      for (const auto& item : std::get<std::vector<std::string>>(kv.value))
        items += (items.empty() ? "" : ", ") + quoted(shown(path, item, p.masked));
      p.text = '[' + items + ']';
      break;
    }
  }
  return p;
}

// A line of TOML with its source comment, comments aligned where lines allow.
std::string commented(std::string out, const Printed& value, const Source& source) {
  constexpr std::size_t kCommentColumn = 44;
  out.append(out.size() < kCommentColumn ? kCommentColumn - out.size() : 2, ' ');
  out += "# " + source_comment(source);
  if (value.masked) out += " (masked)";
  return out + "\n";
}

// `key = value` with its source comment.
std::string line(std::string_view key, const Printed& value, const Source& source) {
  return commented(std::string(key) + " = " + value.text, value, source);
}

struct Table {
  std::string name;  // "" for keys outside any table
  std::vector<const KeyValue*> keys;
};

std::string_view parent_of(std::string_view path) {
  const auto dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view{} : path.substr(0, dot);
}

std::string print_rules(const LoadResult& loaded, bool& masked) {
  const auto& rules = loaded.config.cache.rules;
  const std::string name(rules_path());
  if (rules.empty()) return "# no [[" + name + "]]  # default\n\n";
  std::string out;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    out += "[[" + name + "]]  # " + source_comment(loaded.source_of(rule_source_key(i))) + ", rule " +
           std::to_string(i + 1) + "\n";
    for (const auto& kv : key_values(rules[i])) {
      const auto value = toml_value(name + "." + std::string(kv.path), kv);
      masked = masked || value.masked;
      out += line(kv.path, value, loaded.source_of(rule_source_key(i, kv.path)));
    }
    out += "\n";
  }
  return out;
}

// server.tls.certificates as an array of inline tables, one entry a line,
// each with the line it came from.
std::string certificates_line(const LoadResult& loaded) {
  const auto& certificates = loaded.config.server.tls.certificates;
  const Source top = loaded.source_of("server.tls.certificates");
  if (certificates.empty()) return line("certificates", Printed{"[]"}, top);
  std::string out;
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    const bool last = i + 1 == certificates.size();
    std::string entry = i ? "                 " : "certificates = [ ";
    entry.append("{ cert = ").append(quoted(certificates[i].cert)).append(", key = ");
    entry.append(quoted(certificates[i].key)).append(last ? " } ]" : " },");
    out += commented(std::move(entry), Printed{}, loaded.source_of(certificate_source_key(i)));
  }
  return out;
}

// { "Name" = "value", ... }
std::string pairs(const std::vector<std::pair<std::string, std::string>>& list) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + quoted(list[i].first) + " = " + quoted(list[i].second);
  return out + " }";
}

std::string edits_value(const HeaderEdits& edits) {
  std::vector<std::string> parts;
  if (!edits.remove.empty()) {
    std::string list = "remove = [";
    for (std::size_t i = 0; i < edits.remove.size(); ++i) list += (i ? ", " : "") + quoted(edits.remove[i]);
    parts.push_back(list + "]");
  }
  if (!edits.set.empty()) parts.push_back("set = " + pairs(edits.set));
  if (!edits.add.empty()) parts.push_back("add = " + pairs(edits.add));
  std::string out = "{ ";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out + " }";
}

// [[origins]] and [[routes]] as the file gave them (the implicit default
// pool and catch-all route come from [upstream] again when loaded).
std::string print_gateway(const LoadResult& loaded, bool& masked) {
  const auto& cfg = loaded.config;
  const auto dur = [](Duration d) { return quoted(format_duration(d)); };
  std::string out;
  for (std::size_t i = 0; i < cfg.origins.size(); ++i) {
    const auto& p = cfg.origins[i];
    if (p.line == 0) continue;
    out += "[[origins]]  # " + loaded.file + ":" + std::to_string(p.line) + "\n";
    out += "name = " + quoted(p.name) + "\nmembers = [";
    for (std::size_t m = 0; m < p.members.size(); ++m) {
      const auto url = mask_url_password(p.members[m].url);
      masked = masked || url != p.members[m].url;
      out += std::string(m ? ",\n            " : " ") + "{ url = " + quoted(url) +
             ", weight = " + std::to_string(p.members[m].weight) +
             ", priority = " + std::to_string(p.members[m].priority) + " }";
    }
    out += " ]\nbalance = " + quoted(name_of(p.balance)) + "\n";
    out += "connect_timeout = " + dur(p.connect_timeout) + "\nfirst_byte_timeout = " + dur(p.first_byte_timeout) +
           "\nidle_timeout = " + dur(p.idle_timeout) + "\nqueue_timeout = " + dur(p.queue_timeout) + "\n";
    out += "max_connections = " + std::to_string(p.max_connections) +
           "\npreserve_host = " + (p.preserve_host ? "true" : "false") + "\n";
    if (!p.host.empty()) out += "host = " + quoted(p.host) + "\n";
    out += std::string("retry = ") + (p.retry ? "true" : "false") + "\n";
    if (p.tls != cfg.upstream.tls) {
      const auto& t = p.tls;
      out += "tls = { ca_file = " + quoted(t.ca_file) + ", ca_path = " + quoted(t.ca_path) +
             ", verify = " + (t.verify ? "true" : "false") + ", sni = " + quoted(t.sni) +
             ", client_cert = " + quoted(t.client_cert) + ", client_key = " + quoted(t.client_key) +
             ", min_version = " + quoted(name_of(t.min_version)) + " }\n";
    }
    const auto& hc = p.health_check;
    if (hc.enabled()) {
      out += "health_check = { path = " + quoted(hc.path) + ", interval = " + dur(hc.interval) +
             ", timeout = " + dur(hc.timeout) + (hc.jitter.count() < 0 ? std::string() : ", jitter = " + dur(hc.jitter)) +
             ", expected_status = " + std::to_string(hc.expected_status) + ", rise = " + std::to_string(hc.rise) +
             ", fall = " + std::to_string(hc.fall) + (hc.host.empty() ? "" : ", host = " + quoted(hc.host)) + " }\n";
    }
    out += "passive = { failures = " + std::to_string(p.passive.failures) +
           ", on_5xx = " + (p.passive.on_5xx ? "true" : "false") + ", cooldown = " + dur(p.passive.cooldown) +
           " }\n\n";
  }
  for (const auto& r : cfg.routes) {
    if (r.line == 0) continue;
    out += "[[routes]]  # " + loaded.file + ":" + std::to_string(r.line) + "\n";
    out += "name = " + quoted(r.name) + "\n";
    if (!r.host.empty()) out += "host = " + quoted(r.host) + "\n";
    out += "path = " + quoted(r.path) + "\norigin = " + quoted(r.origin) + "\n";
    if (r.max_body_size) out += "max_body_size = " + quoted(format_size(*r.max_body_size)) + "\n";
    if (r.honour_client_no_cache)
      out += std::string("honour_client_no_cache = ") + (*r.honour_client_no_cache ? "true" : "false") + "\n";
    if (r.upgrades) {
      out += "upgrades = [";
      for (std::size_t i = 0; i < r.upgrades->size(); ++i) out += (i ? ", " : "") + quoted((*r.upgrades)[i]);
      out += "]\n";
    }
    if (!r.request_headers.empty()) out += "request_headers = " + edits_value(r.request_headers) + "\n";
    if (!r.response_headers.empty()) out += "response_headers = " + edits_value(r.response_headers) + "\n";
    for (const auto& rule : r.cache_rules) {
      out += "\n[[routes.cache_rules]]\n";
      for (const auto& kv : key_values(rule)) {
        const auto value = toml_value("routes.cache_rules." + std::string(kv.path), kv);
        masked = masked || value.masked;
        out += std::string(kv.path) + " = " + value.text + "\n";
      }
    }
    out += "\n";
  }
  return out;
}

// [[warm]] sources, every key (defaults included).
std::string print_warm(const LoadResult& loaded) {
  std::string out;
  for (const auto& w : loaded.config.warm) {
    out += "[[warm]]  # " + loaded.file + ":" + std::to_string(w.line) + "\n";
    out += "name = " + quoted(w.name) + "\n";
    if (!w.urls.empty()) out += "urls = " + quoted(w.urls) + "\n";
    if (!w.sitemap.empty()) out += "sitemap = " + quoted(w.sitemap) + "\n";
    if (!w.host.empty()) out += "host = " + quoted(w.host) + "\n";
    std::string rate = std::to_string(w.rate);
    rate.erase(rate.find_last_not_of('0') + 1);
    if (rate.ends_with('.')) rate.pop_back();
    out += "every = " + quoted(format_duration(w.every)) + "\nrate = " + rate +
           "\nconcurrency = " + std::to_string(w.concurrency) + "\nmax_urls = " + std::to_string(w.max_urls) +
           "\nvariants = [";
    for (std::size_t i = 0; i < w.variants.size(); ++i) out += (i ? ", " : "") + pairs(w.variants[i]);
    out += "]\n\n";
  }
  return out;
}

}  // namespace

std::string format_duration(Duration d) {
  const auto ms = d.count();
  constexpr std::pair<std::int64_t, const char*> kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}};
  if (ms == 0) return "0s";
  for (const auto& [per, unit] : kUnits)
    if (ms % per == 0) return std::to_string(ms / per) + unit;
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"TiB", "GiB", "MiB", "KiB"};
  if (bytes == 0) return "0";
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t per = std::uint64_t{1} << (10 * (4 - i));
    if (bytes % per == 0) return std::to_string(bytes / per) + kUnits[i];
  }
  return std::to_string(bytes);
}

bool is_secret_key(std::string_view path) {
  std::string last(path.substr(path.rfind('.') == std::string_view::npos ? 0 : path.rfind('.') + 1));
  for (char& ch : last) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // A file that holds a secret (admin.token_file) is a path, not the secret.
  if (last.ends_with("_file")) return false;
  for (std::string_view word : {"password", "token", "secret"})
    if (last.find(word) != std::string::npos) return true;
  return false;
}

std::string mask_url_password(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const auto rest_at = scheme_end + 3;
  auto authority = url.substr(rest_at);
  // For http(s) the authority ends at the path; a Redis password may itself
  // hold '/' or '@', so there the last '@' ends it (as the loader reads it).
  const auto scheme = url.substr(0, scheme_end);
  if (scheme == "http" || scheme == "https") authority = authority.substr(0, authority.find_first_of("/?#"));
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const auto colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos || colon + 1 == at) return std::string(url);
  return std::string(url.substr(0, rest_at + colon + 1)) + std::string(kMask) +
         std::string(url.substr(rest_at + at));
}

std::string source_comment(const Source& s) {
  switch (s.from) {
    case Source::From::File:
      return s.name + ":" + std::to_string(s.line);
    case Source::From::Environment:
      return "env " + s.name;
    case Source::From::Default:
      break;
  }
  return "default";
}

std::string print_config(const LoadResult& loaded) {
  const auto values = key_values(loaded.config);
  std::vector<Table> tables;
  for (const auto& kv : values) {
    const auto parent = parent_of(kv.path);
    auto it = std::find_if(tables.begin(), tables.end(), [&](const Table& t) { return t.name == parent; });
    if (it == tables.end()) it = tables.insert(it, Table{std::string(parent), {}});
    it->keys.push_back(&kv);
  }
  // Keys outside any table must come before the first [table].
  std::stable_partition(tables.begin(), tables.end(), [](const Table& t) { return t.name.empty(); });
  // [[cache.rules]] goes after the last table of its parent's family.
  const std::string rules_parent(parent_of(rules_path()));
  std::size_t rules_after = tables.size();
  for (std::size_t i = 0; i < tables.size(); ++i)
    if (tables[i].name == rules_parent || tables[i].name.starts_with(rules_parent + ".")) rules_after = i + 1;

  bool masked = false;
  std::string body;
  for (std::size_t i = 0; i <= tables.size(); ++i) {
    if (i == rules_after) body += print_rules(loaded, masked);
    if (i == tables.size()) break;
    const auto& t = tables[i];
    if (!t.name.empty()) body += "[" + t.name + "]\n";
    for (const KeyValue* kv : t.keys) {
      const auto value = toml_value(kv->path, *kv);
      masked = masked || value.masked;
      const auto key = t.name.empty() ? kv->path : kv->path.substr(t.name.size() + 1);
      // Setting upstream.url would add a "default" pool the running config does not have.
      const bool no_default_pool = std::none_of(loaded.config.origins.begin(), loaded.config.origins.end(),
                                                [](const OriginPool& p) { return p.line == 0; });
      if (kv->path == "upstream.url" && no_default_pool) body += "# not set: [[origins]] are the only pools\n# ";
      body += line(key, value, loaded.source_of(kv->path));
    }
    if (t.name == "server.tls") body += certificates_line(loaded);
    body += "\n";
  }

  std::string head =
      "# The configuration relay runs with (relay --print-config): built-in defaults,\n"
      "# then " +
      (loaded.file.empty() ? std::string("no config file") : loaded.file) +
      ", then RELAY_* environment variables, the later winning.\n"
      "# After each value, where it came from: default, FILE:LINE or env RELAY_<KEY>.\n"
      "# This is a valid config file: relay --config FILE loads it unchanged.\n";
  if (masked)
    head += "# Secrets are printed as " + std::string(kMask) +
            " (marked \"masked\"): put the real values back before loading it.\n";
  body += print_gateway(loaded, masked);
  body += print_warm(loaded);
  while (body.ends_with("\n\n")) body.pop_back();
  return head + "\n" + body;
}

}  // namespace relay::config
