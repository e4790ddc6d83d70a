// Writing JSON by hand, without a library: escaped strings and an object
// builder whose members keep their insertion order. Nested values go in as
// already-written JSON (raw).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relay::json {

// s as a JSON string: quoted, with '"', '\\' and control characters escaped
// and bytes that are not well-formed UTF-8 replaced by U+FFFD.
std::string quote(std::string_view s);
// [a, b, ...] from already-written JSON values.
std::string array(const std::vector<std::string>& raw_items);

class Object {
 public:
  Object& add(std::string_view key, std::string_view value);
  Object& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  Object& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  Object& add(std::string_view key, bool value);
  Object& add(std::string_view key, std::int64_t value);
  Object& add(std::string_view key, int value) { return add(key, static_cast<std::int64_t>(value)); }
  Object& add(std::string_view key, double value);  // 3 decimals
  Object& add_raw(std::string_view key, std::string_view json);
  std::string str() const { return "{" + members_ + "}"; }

 private:
  std::string members_;
};

}  // namespace relay::json
