// Structured Field Values for HTTP (RFC 8941): a strict parser for the
// Dictionary type, which RFC 9213 gives the targeted cache-control fields.
// Pure. Strict means any deviation from the grammar fails the whole field
// (RFC 8941 §4.2): the caller then treats the field as absent, never as a
// best guess. Dictionary keys are case-sensitive and lower-case only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace relay::cache::sf {

struct Token {
  std::string value;
  bool operator==(const Token&) const = default;
};

struct ByteSequence {
  std::string bytes;  // decoded
  bool operator==(const ByteSequence&) const = default;
};

// At most 12 integer and 3 fractional digits (RFC 8941 §3.3.2), so
// thousandths hold every Decimal exactly.
struct Decimal {
  std::int64_t thousandths = 0;
  bool operator==(const Decimal&) const = default;
};

// Integer, Decimal, String, Token, Byte Sequence, Boolean (RFC 8941 §3.3).
// A String is the std::string alternative.
using BareItem = std::variant<std::int64_t, Decimal, std::string, Token, ByteSequence, bool>;

// Ordered; keys are unique (a repeated key overwrites the earlier value in
// its original position, §4.2.3.2).
using Parameters = std::vector<std::pair<std::string, BareItem>>;

struct Item {
  BareItem value;
  Parameters params;
};

struct InnerList {
  std::vector<Item> items;
  Parameters params;
};

using Member = std::variant<Item, InnerList>;

// Ordered, unique keys, like Parameters.
using Dictionary = std::vector<std::pair<std::string, Member>>;

// RFC 8941 §4.2 with field_type "dictionary". The input is the combined
// value of every field line (RFC 9110 §5.3, joined by ", "). nullopt when
// it does not parse.
std::optional<Dictionary> parse_dictionary(std::string_view field_value);

}  // namespace relay::cache::sf
