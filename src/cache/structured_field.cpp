// RFC 8941 Dictionary parsing, following the algorithms of §4.2 step by
// step (the section of each function is named next to it). Every function
// consumes from the front of a Cursor and returns nullopt on failure; no
// failure is recovered from, so one bad byte anywhere rejects the field.
#include "relay/cache/structured_field.hpp"
#include "relay/http/headers.hpp"

#include <algorithm>

namespace relay::cache::sf {

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_lcalpha(char c) noexcept { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) noexcept { return is_lcalpha(c) || (c >= 'A' && c <= 'Z'); }

using http::is_tchar;

struct Cursor {
  std::string_view in;

  bool empty() const noexcept { return in.empty(); }
  char peek() const noexcept { return in.empty() ? '\0' : in.front(); }
  bool next_is(char c) const noexcept { return !in.empty() && in.front() == c; }
  char take() noexcept {
    char c = in.front();
    in.remove_prefix(1);
    return c;
  }
  void skip_sp() noexcept {
    while (next_is(' ')) in.remove_prefix(1);
  }
  void skip_ows() noexcept {
    while (next_is(' ') || next_is('\t')) in.remove_prefix(1);
  }
};

template <class Map, class Value>
void put(Map& map, std::string key, Value value) {
  auto it = std::find_if(map.begin(), map.end(), [&](const auto& kv) { return kv.first == key; });
  if (it != map.end()) {
    it->second = std::move(value);
  } else {
    map.emplace_back(std::move(key), std::move(value));
  }
}

// §4.2.3.3
std::optional<std::string> parse_key(Cursor& c) {
  if (!is_lcalpha(c.peek()) && !c.next_is('*')) return std::nullopt;
  std::string key;
  while (!c.empty()) {
    char ch = c.peek();
    if (!is_lcalpha(ch) && !is_digit(ch) && ch != '_' && ch != '-' && ch != '.' && ch != '*') break;
    key += c.take();
  }
  return key;
}

// §4.2.4
std::optional<BareItem> parse_number(Cursor& c) {
  bool decimal = false;
  std::int64_t sign = 1;
  if (c.next_is('-')) {
    c.take();
    sign = -1;
  }
  if (!is_digit(c.peek())) return std::nullopt;
  std::string digits;  // without the '.'
  std::size_t integer_digits = 0;
  while (!c.empty()) {
    char ch = c.peek();
    if (is_digit(ch)) {
      digits += c.take();
    } else if (!decimal && ch == '.') {
      if (digits.size() > 12) return std::nullopt;
      c.take();
      decimal = true;
      integer_digits = digits.size();
    } else {
      break;
    }
    // 15 digits for an Integer; 16 characters, the '.' included, for a Decimal.
    if (!decimal && digits.size() > 15) return std::nullopt;
    if (decimal && digits.size() + 1 > 16) return std::nullopt;
  }
  std::int64_t value = 0;
  for (char d : digits) value = value * 10 + (d - '0');
  if (!decimal) return BareItem{sign * value};
  const std::size_t fraction_digits = digits.size() - integer_digits;
  if (fraction_digits == 0 || fraction_digits > 3) return std::nullopt;  // "1." or "1.2345"
  for (std::size_t i = fraction_digits; i < 3; ++i) value *= 10;
  return BareItem{Decimal{sign * value}};
}

// §4.2.5
std::optional<BareItem> parse_string(Cursor& c) {
  c.take();  // DQUOTE
  std::string out;
  while (!c.empty()) {
    char ch = c.take();
    if (ch == '\\') {
      if (c.empty()) return std::nullopt;
      char escaped = c.take();
      if (escaped != '"' && escaped != '\\') return std::nullopt;
      out += escaped;
    } else if (ch == '"') {
      return BareItem{std::move(out)};
    } else if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) {
      return std::nullopt;
    } else {
      out += ch;
    }
  }
  return std::nullopt;  // no closing DQUOTE
}

// §4.2.6: the first character (ALPHA or '*') was checked by the caller.
BareItem parse_token(Cursor& c) {
  std::string out;
  while (!c.empty() && (is_tchar(c.peek()) || c.next_is(':') || c.next_is('/'))) out += c.take();
  return Token{std::move(out)};
}

int base64_value(char ch) noexcept {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (is_digit(ch)) return ch - '0' + 52;
  if (ch == '+') return 62;
  if (ch == '/') return 63;
  return -1;
}

// §4.2.7. Missing '=' padding and non-zero pad bits are accepted, as the
// section asks of parsers; anything else base64 (RFC 4648 §4) rejects fails.
std::optional<BareItem> parse_byte_sequence(Cursor& c) {
  c.take();  // ':'
  auto end = c.in.find(':');
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view content = c.in.substr(0, end);
  c.in.remove_prefix(end + 1);
  std::size_t padding = 0;
  while (padding < content.size() && content[content.size() - 1 - padding] == '=') ++padding;
  std::string_view data = content.substr(0, content.size() - padding);
  if (padding > 2 || data.size() % 4 == 1) return std::nullopt;
  if (padding > 0 && (data.size() + padding) % 4 != 0) return std::nullopt;
  std::string out;
  std::uint32_t bits = 0;
  int nbits = 0;
  for (char ch : data) {
    int v = base64_value(ch);
    if (v < 0) return std::nullopt;  // includes '=' before the end
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xff);
    }
  }
  return BareItem{ByteSequence{std::move(out)}};
}

// §4.2.8
std::optional<BareItem> parse_boolean(Cursor& c) {
  c.take();  // '?'
  if (c.next_is('1') || c.next_is('0')) return BareItem{c.take() == '1'};
  return std::nullopt;
}

// §4.2.3.1
std::optional<BareItem> parse_bare_item(Cursor& c) {
  char ch = c.peek();
  if (c.empty()) return std::nullopt;
  if (ch == '-' || is_digit(ch)) return parse_number(c);
  if (ch == '"') return parse_string(c);
  if (is_alpha(ch) || ch == '*') return parse_token(c);
  if (ch == ':') return parse_byte_sequence(c);
  if (ch == '?') return parse_boolean(c);
  return std::nullopt;
}

// §4.2.3.2
std::optional<Parameters> parse_parameters(Cursor& c) {
  Parameters params;
  while (c.next_is(';')) {
    c.take();
    c.skip_sp();
    auto key = parse_key(c);
    if (!key) return std::nullopt;
    BareItem value = true;
    if (c.next_is('=')) {
      c.take();
      auto v = parse_bare_item(c);
      if (!v) return std::nullopt;
      value = std::move(*v);
    }
    put(params, std::move(*key), std::move(value));
  }
  return params;
}

// §4.2.3
std::optional<Item> parse_item(Cursor& c) {
  auto value = parse_bare_item(c);
  if (!value) return std::nullopt;
  auto params = parse_parameters(c);
  if (!params) return std::nullopt;
  return Item{std::move(*value), std::move(*params)};
}

// §4.2.1.2
std::optional<InnerList> parse_inner_list(Cursor& c) {
  c.take();  // '('
  InnerList list;
  while (!c.empty()) {
    c.skip_sp();
    if (c.next_is(')')) {
      c.take();
      auto params = parse_parameters(c);
      if (!params) return std::nullopt;
      list.params = std::move(*params);
      return list;
    }
    auto item = parse_item(c);
    if (!item) return std::nullopt;
    list.items.push_back(std::move(*item));
    if (!c.next_is(' ') && !c.next_is(')')) return std::nullopt;
  }
  return std::nullopt;  // no closing ')'
}

// §4.2.1.1
std::optional<Member> parse_item_or_inner_list(Cursor& c) {
  if (c.next_is('(')) {
    auto list = parse_inner_list(c);
    if (!list) return std::nullopt;
    return Member{std::move(*list)};
  }
  auto item = parse_item(c);
  if (!item) return std::nullopt;
  return Member{std::move(*item)};
}

}  // namespace

std::optional<Dictionary> parse_dictionary(std::string_view field_value) {
  Cursor c{field_value};
  c.skip_sp();  // §4.2 step 2
  Dictionary dict;
  // §4.2.2
  while (!c.empty()) {
    auto key = parse_key(c);
    if (!key) return std::nullopt;
    std::optional<Member> member;
    if (c.next_is('=')) {
      c.take();
      member = parse_item_or_inner_list(c);
    } else if (auto params = parse_parameters(c)) {
      member = Member{Item{true, std::move(*params)}};
    }
    if (!member) return std::nullopt;
    put(dict, std::move(*key), std::move(*member));
    c.skip_ows();
    if (c.empty()) return dict;
    if (c.take() != ',') return std::nullopt;
    c.skip_ows();
    if (c.empty()) return std::nullopt;  // trailing comma
  }
  // §4.2 steps 6-7: only trailing SP may remain, and the loop consumed it.
  return dict;
}

}  // namespace relay::cache::sf
