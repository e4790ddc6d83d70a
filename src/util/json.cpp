// JSON text (json.hpp). Bytes >= 0x80 pass through: relay's strings are
// UTF-8 or ASCII already.
#include "relay/util/json.hpp"

#include <cstdio>

namespace relay::json {

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string array(const std::vector<std::string>& raw_items) {
  std::string out = "[";
  for (std::size_t i = 0; i < raw_items.size(); ++i) out += (i ? "," : "") + raw_items[i];
  return out + "]";
}

Object& Object::add_raw(std::string_view key, std::string_view json) {
  if (!members_.empty()) members_ += ',';
  members_ += quote(key);
  members_ += ':';
  members_ += json;
  return *this;
}

Object& Object::add(std::string_view key, std::string_view value) { return add_raw(key, quote(value)); }
Object& Object::add(std::string_view key, bool value) { return add_raw(key, value ? "true" : "false"); }
Object& Object::add(std::string_view key, std::int64_t value) { return add_raw(key, std::to_string(value)); }

Object& Object::add(std::string_view key, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  return add_raw(key, buf);
}

}  // namespace relay::json
