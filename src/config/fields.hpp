// Internal to src/config: the schema's rows. A row names one key, its Kind,
// and how to set and read the member it maps to; the loader, the validator
// and key_values() walk the same rows, so they cannot disagree on a key.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "relay/config/config.hpp"
#include "relay/config/schema.hpp"
#include "text.hpp"

namespace relay::config::detail {

// A row sets one member of Root (Config for the sections, CacheRule for
// rules) and reads it back; get gives nullopt for a rule's unset override.
template <typename Root>
struct FieldOf {
  std::string_view path;
  Kind kind;
  void (*set)(Root&, Value&&);
  std::optional<Value> (*get)(const Root&);
  // A typed member (text.hpp): its text is parsed once the file and the
  // environment are merged, so an override can replace a bad file value.
  bool typed;
};

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
    (K == Kind::String && (std::is_same_v<T, std::string> || Textual<T>)) ||
    (K == Kind::Int &&
     (std::is_same_v<T, int> || std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::uint64_t>)) ||
    (K == Kind::Bool && std::is_same_v<T, bool>) ||
    (K == Kind::Duration && std::is_same_v<T, Duration>) ||
    (K == Kind::Size && (std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::uint64_t>)) ||
    (K == Kind::StringList && std::is_same_v<T, std::vector<std::string>>) ||
    (K == Kind::Number && std::is_same_v<T, double>);

// Narrowing to the member's type happens here, so an out-of-range value is
// reported like any other bad value (with its location) instead of wrapping.
template <typename T>
T convert(Value&& v) {
  if constexpr (std::is_same_v<T, int>) {
    const auto n = std::get<std::int64_t>(v);
    if (n < INT_MIN || n > INT_MAX) throw std::invalid_argument("out of range, got " + std::to_string(n));
    return static_cast<int>(n);
  } else if constexpr (std::is_same_v<T, std::uint32_t>) {
    // An Int key holds a signed value, a Size key an unsigned one.
    if (const auto* u = std::get_if<std::uint64_t>(&v)) {
      if (*u > UINT32_MAX) throw std::invalid_argument("out of range, got " + std::to_string(*u));
      return static_cast<std::uint32_t>(*u);
    }
    const auto n = std::get<std::int64_t>(v);
    if (n < 0 || n > UINT32_MAX) throw std::invalid_argument("out of range, got " + std::to_string(n));
    return static_cast<std::uint32_t>(n);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    if (const auto* n = std::get_if<std::int64_t>(&v)) {
      if (*n < 0) throw std::invalid_argument("must not be negative, got " + std::to_string(*n));
      return static_cast<std::uint64_t>(*n);
    }
    return std::get<std::uint64_t>(v);
  } else if constexpr (Textual<T>) {
    T out{};
    parse_text(std::get<std::string>(v), out);
    return out;
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
  } else if constexpr (K == Kind::Size) {
    return Value(std::in_place_type<std::uint64_t>, static_cast<std::uint64_t>(v));
  } else if constexpr (Textual<T>) {
    return Value(std::in_place_type<std::string>, to_text(v));
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
                       [](const Root& c) { return to_value<K>(((c .* First) .* ... .* Members)); },
                       Textual<T>};
}

using Field = FieldOf<Config>;
using RuleField = FieldOf<CacheRule>;

// Every key of the sections, in schema (and print) order.
std::span<const Field> fields();
// The keys of one [[cache.rules]] entry, relative to the entry.
std::span<const RuleField> rule_fields();
inline constexpr std::string_view kRules = "cache.rules";

template <typename Root>
const FieldOf<Root>* find_field(std::span<const FieldOf<Root>> all, std::string_view path) {
  for (const auto& f : all)
    if (f.path == path) return &f;
  return nullptr;
}

// A section is any proper prefix of a key path, so tables need no own list.
bool is_section(std::string_view path);

}  // namespace relay::config::detail
