// What each configuration key means, in one paragraph of plain ASCII text:
// the words of relay.toml(5), which man/gen_config_man.cpp builds by
// walking the schema (schema.hpp) and looking each key up here. The schema
// gives a key's kind and default, this table only its meaning;
// tests/unit/test_key_docs.cpp holds the two to the same set of keys.
#pragma once

#include <span>
#include <string_view>

#include "relay/config/schema.hpp"

namespace relay::config {

// A key (or a section) and its paragraph.
struct KeyDoc {
  std::string_view path;
  std::string_view text;
};

// A key of an array of tables that has no schema row (the loader reads
// [[origins]], [[routes]] and server.tls.certificates by hand), so the row
// carries its type and default too.
struct TableKeyDoc {
  std::string_view path;  // relative to one entry; nested: "health_check.rise"
  std::string_view type;  // as the page prints it: "string", "array of tables", ...
  // TOML as --print-config writes it (the unit test compares it with the
  // loader's), or a phrase in parentheses: "(required)", "(upstream.idle_timeout)".
  std::string_view default_value;
  std::string_view text;
};

// One array of tables: what an entry is, and its keys.
struct TableDoc {
  std::string_view path;  // "origins", "routes", "server.tls.certificates"
  std::string_view text;
  std::span<const TableKeyDoc> keys;
};

// Every section of the schema ("server", "server.rate_limit", ...) and
// [[cache.rules]] (rules_path()), introduced.
std::span<const KeyDoc> section_docs();
// Every key of the sections, by dotted path ("server.listen").
std::span<const KeyDoc> key_docs();
// Every key of a [[cache.rules]] entry, relative to the entry ("ttl").
std::span<const KeyDoc> rule_key_docs();
// The arrays of tables outside the schema rows.
std::span<const TableDoc> table_docs();

// The word the page uses for a kind: "string", "duration", "array of strings".
// Keys outside the schema use these too, or "table" and "array of tables".
std::string_view type_name(Kind kind);

// The paragraph for path in docs; "" when there is none.
std::string_view doc_for(std::span<const KeyDoc> docs, std::string_view path);

}  // namespace relay::config
