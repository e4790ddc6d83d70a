// Internal to src/config: reading an array-of-tables entry ([[origins]],
// [[routes]], [[warm]]) key by key through a table of readers, so an
// unknown key, a wrong type or a bad value is an error naming
// "origins[2].members[1].url" and its file:line like every other key.
// Defined in gateway_loader.cpp.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "loader.hpp"
#include "values.hpp"

namespace relay::config::detail {

// Key -> what to do with its value; `here` is "file:line: path: ".
using Readers = std::map<std::string, std::function<void(const toml::node&, const std::string& here)>, std::less<>>;

// Runs each key of `node` (a table) through its reader; `name` is the
// table's sources key ("origins[1]"). Readers throw std::invalid_argument.
void read_table(Loader& ld, const toml::node& node, const std::string& name, const Readers& readers);

template <typename T>
T value_of(Kind kind, const toml::node& node) {
  return std::get<T>(from_node(kind, node));
}
int int_in(const toml::node& node, int low, int high);
Duration positive_duration(const toml::node& node);
// A pool's (or source's) name: letters, digits, '-', '_', '.', at most 64.
bool valid_name(std::string_view s);
// { Field = "value", ... }: request or response fields relay adds; framing
// and routing fields (Host, Content-Length, ...) are refused.
std::vector<std::pair<std::string, std::string>> field_values(const toml::node& node);

}  // namespace relay::config::detail
