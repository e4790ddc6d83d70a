// relay.toml(5)'s paragraphs (src/config/key_docs.cpp) against what the
// loader takes: every schema key and rule key has one, none names a key the
// schema lacks, and each key of the arrays of tables the loader reads by
// hand ([[origins]], [[routes]], server.tls.certificates) is one it accepts,
// with the default it documents. man/gen_config_man.cpp builds the page
// from both, so this is what keeps the page true.
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "../../src/config/fields.hpp"  // every rule key, not only those a rule sets
#include "relay/config/config.hpp"
#include "relay/config/key_docs.hpp"
#include "relay/config/print.hpp"
#include "relay/config/schema.hpp"

using namespace relay::config;

namespace {

// One paragraph of printable ASCII ending a sentence: roff reads bytes, and
// the generator escapes only what ASCII needs.
bool reads_as_paragraph(std::string_view text) {
  return !text.empty() && text.back() == '.' &&
         std::all_of(text.begin(), text.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; });
}

// The paths of docs, each once.
std::set<std::string, std::less<>> documented_paths(std::span<const KeyDoc> docs) {
  std::set<std::string, std::less<>> out;
  for (const auto& doc : docs) {
    CHECK_MESSAGE(out.insert(std::string(doc.path)).second, "documented twice: ", doc.path);
    CHECK_MESSAGE(reads_as_paragraph(doc.text), doc.path, ": not one ASCII paragraph ending in '.'");
  }
  return out;
}

std::string_view head_of(std::string_view path) { return path.substr(0, path.find('.')); }

std::string_view tail_after_dot(std::string_view path) {
  const auto dot = path.find('.');
  return dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
}

const TableKeyDoc* table_key(const TableDoc& table, std::string_view path) {
  const auto it = std::find_if(table.keys.begin(), table.keys.end(), [&](const TableKeyDoc& k) { return k.path == path; });
  return it == table.keys.end() ? nullptr : &*it;
}

// Keys an entry of a nested table cannot do without: a member needs its
// url, and health checks are printed (so their defaults seen) only with a path.
std::string_view companion_of(std::string_view table) {
  if (table == "members") return "url = \"http://127.0.0.1:9\"";
  if (table == "health_check") return "path = \"/health\"";
  return "";
}

// `key = value` for one entry, a nested key written as an inline table
// (or an array of one) inside its parent. An empty value leaves the key
// out: nothing for a key of the entry itself, its table with only the
// companion for a nested one.
std::string assignment(const TableDoc& table, const TableKeyDoc& key, std::string_view value) {
  const auto parent = head_of(key.path);
  const auto leaf = tail_after_dot(key.path);
  if (leaf.empty()) return value.empty() ? "" : std::string(key.path) + " = " + std::string(value);
  const auto* parent_doc = table_key(table, parent);
  REQUIRE_MESSAGE(parent_doc, key.path, ": its table ", parent, " is not documented");
  const auto companion = companion_of(parent);
  std::string inner;
  if (!companion.empty() && !companion.starts_with(std::string(leaf) + " = ")) inner = companion;
  if (!value.empty()) inner += (inner.empty() ? "" : ", ") + std::string(leaf) + " = " + std::string(value);
  if (parent_doc->type == "array of tables") return std::string(parent) + " = [ { " + inner + " } ]";
  return std::string(parent) + " = { " + inner + " }";
}

// A config file whose one entry of `table` sets `key` to `value` (leaves
// it out when value is empty), with the entry's other required keys;
// nullopt for a table this test cannot write.
std::optional<std::string> config_setting(const TableDoc& table, const TableKeyDoc& key, std::string_view value) {
  const auto line = assignment(table, key, value);
  const auto sets = [&](std::string_view name) { return !line.empty() && head_of(key.path) == name; };
  if (table.path == "origins") {
    std::string out = "[[origins]]\n";
    if (!sets("name")) out += "name = \"probe\"\n";
    if (!sets("members")) out += "members = [\"http://127.0.0.1:9\"]\n";
    return out + line + "\n";
  }
  if (table.path == "routes") return "[[routes]]\n" + line + "\n";
  if (table.path == "warm") {
    // A source needs exactly one of urls and sitemap.
    const bool source_set = sets("urls") || sets("sitemap");
    return "[[warm]]\n" + std::string(source_set ? "" : "urls = \"/etc/relay/warm.txt\"\n") + line + "\n";
  }
  if (table.path == "server.tls.certificates") return "[server.tls]\ncertificates = [ { " + line + " } ]\n";
  return std::nullopt;
}

// Whether a documented default is written as a value of its documented type.
bool written_as(std::string_view type, std::string_view value) {
  const bool quoted = value.size() >= 2 && value.front() == '"' && value.back() == '"';
  const bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos;
  if (type == "string") return quoted;
  if (type == "integer") return digits;
  if (type == "number") return !value.empty() && value.find_first_not_of("0123456789.") == std::string_view::npos;
  if (type == "boolean") return value == "true" || value == "false";
  if (type == "duration" || type == "size") return quoted || digits;
  if (type == "array of strings" || type == "array of tables") return value.starts_with('[');
  if (type == "table") return value.starts_with('{');
  return false;
}

// The entry's lines in --print-config: from its [[table]] line to the blank line after it.
std::string printed_entry(const std::string& printed, std::string_view table) {
  const auto at = printed.find("\n[[" + std::string(table) + "]]");  // a header, not a comment naming it
  if (at == std::string::npos) return "";
  return printed.substr(at, printed.find("\n\n", at) - at);
}

// Where `leaf = ` is printed in the entry (at a line start or after "{ " /
// ", "), the value after it must be `value`.
void check_printed_default(const std::string& entry, std::string_view key_path, std::string_view leaf,
                           std::string_view value) {
  const std::string assign = std::string(leaf) + " = ";
  for (auto at = entry.find(assign); at != std::string::npos; at = entry.find(assign, at + 1)) {
    if (at > 0 && entry[at - 1] != '\n' && entry[at - 1] != ' ') continue;
    const auto shown = entry.substr(at + assign.size());
    const bool same = shown.starts_with(value) &&
                      (shown.size() == value.size() || std::string_view(",\n }").find(shown[value.size()]) != std::string_view::npos);
    CHECK_MESSAGE(same, key_path, ": documented default ", value, ", --print-config shows ",
                  shown.substr(0, shown.find_first_of(",\n")));
    return;
  }
}

}  // namespace

TEST_CASE("every key of the sections has a paragraph, and every paragraph names a key") {
  const auto documented = documented_paths(key_docs());
  std::set<std::string, std::less<>> schema;
  for (const auto& kv : key_values(Config{})) {
    schema.insert(std::string(kv.path));
    CHECK_MESSAGE(documented.contains(kv.path), "no description in src/config/key_docs.cpp for ", kv.path);
  }
  for (const auto& path : documented) CHECK_MESSAGE(schema.contains(path), "described but not a key: ", path);
}

TEST_CASE("every [[cache.rules]] key has a paragraph, and every paragraph names a rule key") {
  const auto documented = documented_paths(rule_key_docs());
  std::set<std::string, std::less<>> schema;
  for (const auto& field : detail::rule_fields()) {
    schema.insert(std::string(field.path));
    CHECK_MESSAGE(documented.contains(field.path), "no description in src/config/key_docs.cpp for rule key ",
                  field.path);
  }
  for (const auto& path : documented) CHECK_MESSAGE(schema.contains(path), "described but not a rule key: ", path);
}

TEST_CASE("every section and [[cache.rules]] is introduced, and nothing else") {
  const auto documented = documented_paths(section_docs());
  std::set<std::string, std::less<>> sections{std::string(rules_path())};
  for (const auto& kv : key_values(Config{}))
    sections.insert(std::string(kv.path.substr(0, kv.path.rfind('.'))));
  CHECK(documented == sections);
}

TEST_CASE("the arrays of tables' keys are described with a known type") {
  std::set<std::string_view> types{"table", "array of tables"};
  for (auto kind : {Kind::String, Kind::Int, Kind::Bool, Kind::Duration, Kind::Size, Kind::StringList, Kind::Number})
    types.insert(type_name(kind));
  std::set<std::string_view> tables;
  for (const auto& table : table_docs()) {
    CHECK_MESSAGE(tables.insert(table.path).second, "described twice: ", table.path);
    CHECK_MESSAGE(reads_as_paragraph(table.text), table.path, ": not one ASCII paragraph ending in '.'");
    CHECK_MESSAGE(doc_for(key_docs(), table.path).empty(), table.path, ": a schema key, not an array of tables");
    std::set<std::string_view> keys;
    for (const auto& key : table.keys) {
      const std::string name = std::string(table.path) + "." + std::string(key.path);
      CHECK_MESSAGE(keys.insert(key.path).second, "described twice: ", name);
      CHECK_MESSAGE(types.contains(key.type), name, ": unknown type \"", key.type, "\"");
      CHECK_MESSAGE(!key.default_value.empty(), name, ": no default (\"(required)\" if it has none)");
      if (!key.default_value.starts_with('('))
        CHECK_MESSAGE(written_as(key.type, key.default_value), name, ": default ", key.default_value,
                      " is not written as a ", key.type);
      CHECK_MESSAGE(reads_as_paragraph(key.text), name, ": not one ASCII paragraph ending in '.'");
    }
  }
}

// Set to its documented default, a key must load (so the loader knows it
// and the default is a value it takes), and --print-config, where it prints
// the key, must show that default for an entry that does not set it. A key
// whose default is a phrase is set to a table instead: the loader may
// refuse the value, but not the key.
TEST_CASE("the arrays of tables' keys are keys the loader takes, with the defaults described") {
  for (const auto& table : table_docs()) {
    for (const auto& key : table.keys) {
      const std::string name = std::string(table.path) + "." + std::string(key.path);
      CAPTURE(name);
      const bool phrase = key.default_value.starts_with('(');
      const auto text = config_setting(table, key, phrase ? "{}" : key.default_value);
      REQUIRE_MESSAGE(text, "no probe config for ", table.path, ": teach config_setting() its entries");
      CAPTURE(*text);
      if (phrase) {
        try {
          load_from_string(*text, "probe.toml", {});
        } catch (const ConfigError& e) {
          CHECK_MESSAGE(std::string_view(e.what()).find("unknown") == std::string_view::npos, e.what());
        }
        continue;
      }
      LoadResult loaded;
      try {
        load_from_string(*text, "probe.toml", {});
        // The default is what an entry that leaves the key out gets.
        loaded = load_with_sources(*config_setting(table, key, ""), "probe.toml", {});
      } catch (const ConfigError& e) {
        const std::string why = std::string("the documented default does not load: ") + e.what();
        FAIL_CHECK(why);
        continue;
      }
      if (tail_after_dot(table.path).empty()) {
        const auto leaf = key.path.substr(key.path.rfind('.') + 1);
        check_printed_default(printed_entry(print_config(loaded), table.path), name, leaf, key.default_value);
      }
    }
  }
}
