// Prints relay.toml(5) as roff on standard output. The keys, their kinds and
// their defaults come from the schema the loader itself reads (the rows of
// src/config/fields.cpp, and a Config loaded with nothing set), their
// meaning from src/config/key_docs.cpp. meson runs this at build time
// (man/meson.build), so the page lists exactly the keys this relay accepts,
// with the defaults it really has.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

// Internal to src/config, for every key of a rule: the public key_values()
// lists only the keys a given rule sets.
#include "../src/config/fields.hpp"
#include "relay/config/config.hpp"
#include "relay/config/key_docs.hpp"
#include "relay/config/print.hpp"
#include "relay/config/reload.hpp"
#include "relay/config/schema.hpp"

namespace {

using namespace relay::config;

// Text as roff prints it literally. '-' would print as a hyphen (U+2010) and
// quotes as typographic ones, which a reader cannot paste into a config.
// breakable: a long value (the cipher list) may wrap after ':', ',' or '/',
// where groff would otherwise overflow the line and warn.
std::string roff(std::string_view text, bool breakable = false) {
  std::string out;
  for (const char ch : text) {
    switch (ch) {
      case '\\': out += "\\e"; break;
      case '-': out += "\\-"; break;
      case '\'': out += "\\(aq"; break;
      case '`': out += "\\(ga"; break;
      case '^': out += "\\(ha"; break;
      case '~': out += "\\(ti"; break;
      default: out += ch;
    }
    if (breakable && (ch == ':' || ch == ',' || ch == '/')) out += "\\:";
  }
  // A text line starting with '.' would be read as a request.
  if (out.starts_with('.')) out.insert(0, "\\&");
  return out;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

// A default as it is written in the file (and as --print-config writes it).
std::string toml_literal(const KeyValue& kv) {
  switch (kv.kind) {
    case Kind::String: return quoted(std::get<std::string>(kv.value));
    case Kind::Int: return std::to_string(std::get<std::int64_t>(kv.value));
    case Kind::Bool: return std::get<bool>(kv.value) ? "true" : "false";
    case Kind::Duration: return quoted(format_duration(std::get<Duration>(kv.value)));
    case Kind::Number: {
      char buf[32];
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::get<double>(kv.value));
      return ec == std::errc{} ? std::string(buf, end) : "0";
    }
    case Kind::Size: {
      const auto text = format_size(std::get<std::uint64_t>(kv.value));
      return text.find_first_not_of("0123456789") == std::string::npos ? text : quoted(text);
    }
    case Kind::StringList: {
      std::string items;
      for (const auto& item : std::get<std::vector<std::string>>(kv.value))
        items += (items.empty() ? "" : ", ") + quoted(item);
      return "[" + items + "]";
    }
  }
  return "";
}

std::string_view parent_of(std::string_view path) {
  const auto dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view{} : path.substr(0, dot);
}

bool restart_only(std::string_view key) {
  const auto keys = restart_only_keys();
  return std::any_of(keys.begin(), keys.end(), [&](std::string_view entry) {
    return entry.ends_with('.') ? key.starts_with(entry) : key == entry;
  });
}

// "server.listen, server.threads and every key of [storage]".
std::string restart_only_list() {
  std::vector<std::string> names;
  for (const auto entry : restart_only_keys())
    names.push_back(entry.ends_with('.') ? "every key of [" + std::string(entry.substr(0, entry.size() - 1)) + "]"
                                         : std::string(entry));
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return out;
}

// One key: its name as the tag, a line of facts, then its paragraph.
void key_entry(std::string& out, std::string_view name, const std::string& facts, std::string_view doc) {
  out += ".TP\n.B " + std::string(name) + "\n" + facts + "\n.br\n" + roff(doc) + "\n";
}

std::string type_fact(std::string_view type) { return "\\fI" + std::string(type) + "\\fR"; }
std::string value_fact(std::string_view label, const std::string& value) {
  return "; " + std::string(label) + " \\fB" + roff(value, true) + "\\fR";
}

void section_key(std::string& out, const KeyValue& kv) {
  std::string facts = type_fact(type_name(kv.kind)) + value_fact("default", toml_literal(kv)) +
                      value_fact("environment", env_variable(kv.path));
  if (restart_only(kv.path)) facts += "; restart only";
  key_entry(out, kv.path, facts, doc_for(key_docs(), kv.path));
}

// A key outside the schema: its default is a TOML value or, in parentheses,
// a phrase ("(required)", "(upstream.idle_timeout)").
void table_key(std::string& out, const TableKeyDoc& key) {
  std::string facts = type_fact(key.type);
  const auto value = key.default_value;
  if (value == "(required)")
    facts += "; required";
  else if (value.starts_with('('))
    facts += "; default \\fI" + roff(value.substr(1, value.size() - 2)) + "\\fR";
  else
    facts += value_fact("default", std::string(value));
  key_entry(out, key.path, facts, key.text);
}

// An array of tables inside a section (server.tls.certificates): a key of
// that section whose entries' keys follow, indented.
void nested_table(std::string& out, const TableDoc& table) {
  key_entry(out, table.path, type_fact("array of tables") + value_fact("environment", env_variable(table.path)),
            table.text);
  out += ".RS\n";
  for (const auto& key : table.keys) table_key(out, key);
  out += ".RE\n";
}

void rules_section(std::string& out) {
  const std::string name(rules_path());
  out += ".SS \"[[" + name + "]]\"\n" + roff(doc_for(section_docs(), name)) + "\n";
  // A default rule holds the keys every rule has; an empty path is no rule at all.
  const auto defaults = key_values(CacheRule{});
  for (const auto& field : detail::rule_fields()) {
    std::string facts = type_fact(type_name(field.kind));
    const auto it = std::find_if(defaults.begin(), defaults.end(), [&](const KeyValue& kv) { return kv.path == field.path; });
    if (it == defaults.end())
      facts += "; unset by default";
    else if (it->kind == Kind::String && std::get<std::string>(it->value).empty())
      facts += "; required";
    else
      facts += value_fact("default", toml_literal(*it));
    key_entry(out, field.path, facts, doc_for(rule_key_docs(), field.path));
  }
}

void top_level_table(std::string& out, const TableDoc& table) {
  out += ".SS \"[[" + std::string(table.path) + "]]\"\n" + roff(table.text) + "\n";
  for (const auto& key : table.keys) table_key(out, key);
}

struct Section {
  std::string name;
  std::vector<KeyValue> keys;
};

// The tables in the order --print-config writes them: each section with
// its keys together, in schema order.
std::vector<Section> sections_of(const std::vector<KeyValue>& values) {
  std::vector<Section> sections;
  for (const auto& kv : values) {
    const std::string parent(parent_of(kv.path));
    auto it = std::find_if(sections.begin(), sections.end(), [&](const Section& s) { return s.name == parent; });
    if (it == sections.end()) it = sections.insert(sections.end(), Section{parent, {}});
    it->keys.push_back(kv);
  }
  return sections;
}

void keys_part(std::string& out, const Config& defaults) {
  out += ".SH KEYS\n"
         "Each key with its type, its default, the environment variable that sets it and what it means, under "
         "the table it is written in.\n";
  const auto sections = sections_of(key_values(defaults));
  // [[cache.rules]] follows the last table of the cache family, as in --print-config.
  const std::string rules_parent(parent_of(rules_path()));
  std::size_t rules_after = sections.size();
  for (std::size_t i = 0; i < sections.size(); ++i)
    if (sections[i].name == rules_parent || sections[i].name.starts_with(rules_parent + ".")) rules_after = i + 1;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    const auto& s = sections[i];
    out += ".SS \"[" + s.name + "]\"\n" + roff(doc_for(section_docs(), s.name)) + "\n";
    for (const auto& kv : s.keys) section_key(out, kv);
    for (const auto& table : table_docs())
      if (parent_of(table.path) == s.name) nested_table(out, table);
    if (i + 1 == rules_after) rules_section(out);
  }
  for (const auto& table : table_docs())
    if (parent_of(table.path).empty()) top_level_table(out, table);
}

std::string page() {
  const Config defaults = load_defaults(Environment{});  // not the builder's RELAY_* variables
  std::string out =
      ".\\\" Generated by man/gen_config_man.cpp from the configuration schema\n"
      ".\\\" (src/config/fields.cpp) and src/config/key_docs.cpp: edit those, not this.\n"
      ".TH RELAY.TOML 5 \"\" \"relay " RELAY_VERSION "\" \"File Formats Manual\"\n"
      // Names and values are copied from the page: no hyphenation breaking
      // them, and ragged lines rather than stretched ones around long values.
      ".nh\n"
      ".ad l\n"
      ".SH NAME\n"
      "relay.toml \\- configuration file of relay, an HTTP caching reverse proxy\n"
      ".SH SYNOPSIS\n"
      ".B /etc/relay/relay.toml\n"
      ".br\n"
      ".B relay \\-\\-config\n"
      ".I FILE\n"
      ".SH DESCRIPTION\n"
      ".B relay\n"
      "reads its configuration from one TOML file, the one named with\n"
      ".BR \\-\\-config .\n"
      "Every key is optional: an empty file, or none at all, gives the defaults listed under KEYS. A key is "
      "written in the table its dotted name begins with: server.listen is listen in [server], "
      "cache.key.headers is headers in [cache.key]. Unknown keys and tables are errors, so a typo never "
      "passes silently, and every error names the key and where its value came from, as in\n"
      ".IR \"relay.toml:12: upstream.connect_timeout: must be greater than 0\" .\n"
      ".PP\n"
      "Each value comes from the first of: the environment, the file, the built-in default. So the "
      "environment overrides the file, which overrides the defaults.\n"
      ".SS Environment\n"
      "Every key of the sections below is also read from the environment variable named\n"
      ".BI RELAY_ SECTION _ KEY\\fR:\n"
      "the dotted name upper-cased, with each '.' written '_' (cache.key.ignore_params is " +
      env_variable("cache.key.ignore_params") +
      "). Arrays of strings are written comma-separated, blanks around items ignored (utm_*,fbclid); "
      "booleans as true, false, 1, 0, yes or no; every other value as in the file, without quotes. A "
      "variable under a known section that names no key there is an error. Variables that name no section "
      "at all are ignored with one warning: Kubernetes sets RELAY_PORT, RELAY_SERVICE_HOST and the like for "
      "a Service named relay. The arrays of tables ([[cache.rules]], [[origins]], [[routes]]) are written in "
      "the file only; server.tls.certificates is read from its variable as a TOML array.\n"
      ".SS Durations\n"
      "An integer of seconds, or a string of a whole number and a unit: \"250ms\", \"30s\", \"5m\", \"1h\", "
      "\"2d\". A bare number in a string (\"30\") is seconds too.\n"
      ".SS Sizes\n"
      "An integer of bytes, or a string: \"512\", \"64KiB\", \"10MiB\", \"1GiB\", \"1TiB\". K, KB and KiB (and "
      "likewise M, G and T) all mean powers of 1024; units are case-insensitive.\n"
      ".SS \"Checking and reloading\"\n"
      ".B relay \\-\\-check\\-config\n"
      ".I FILE\n"
      "validates a file with everything a start needs;\n"
      ".B relay \\-\\-print\\-config\n"
      "prints the configuration in force, each value with where it came from. SIGHUP or POST /reload on "
      "the admin listener reads the file and the environment again, checked first and applied all or "
      "nothing. A reload cannot change " +
      roff(restart_only_list()) +
      " (marked \"restart only\" below), nor the set of [[origins]] pools and members: a reload that "
      "changes one of them is refused as a whole.\n";
  keys_part(out, defaults);
  out += ".SH EXAMPLES\n"
         "A cache in front of one origin, with static files kept a week and an API never cached:\n"
         ".PP\n"
         ".RS\n"
         ".nf\n"
         "[server]\n"
         "listen = \"0.0.0.0:8080\"\n"
         "\n"
         "[upstream]\n"
         "url = \"http://127.0.0.1:3000\"\n"
         "\n"
         "[[cache.rules]]\n"
         "path = \"/static/*\"\n"
         "ttl = \"7d\"\n"
         "\n"
         "[[cache.rules]]\n"
         "path = \"/api/*\"\n"
         "bypass = true\n"
         ".fi\n"
         ".RE\n"
         ".PP\n"
         "The same origin from the environment, the rest from the file:\n"
         ".PP\n"
         ".RS\n"
         ".nf\n"
         "RELAY_UPSTREAM_URL=http://127.0.0.1:3000 relay \\-\\-config /etc/relay/relay.toml\n"
         ".fi\n"
         ".RE\n"
         ".SH FILES\n"
         ".TP\n"
         ".I /etc/relay/relay.toml\n"
         "The configuration file the systemd unit relay.service passes to \\-\\-config. meson install "
         "(with \\-\\-prefix=/usr; elsewhere under its sysconfdir) creates it from relay.example.toml, every "
         "key at its default, unless it exists: an operator's file is never overwritten.\n"
         ".TP\n"
         ".I /etc/relay/relay.toml.default\n"
         "The same copy of relay.example.toml, replaced by every install: what a new version's defaults "
         "look like.\n"
         ".TP\n"
         ".I " + roff(defaults.storage.disk.path) + "\n"
         "The disk store's directory (storage.disk.path).\n"
         ".TP\n"
         ".I relay.example.toml\n"
         "In relay's source: every key with its default and its nginx and Varnish counterparts.\n"
         ".SH \"SEE ALSO\"\n"
         ".BR relay (8)\n";
  return out;
}

}  // namespace

int main() {
  const auto text = page();
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0 ? 0 : 1;
}
