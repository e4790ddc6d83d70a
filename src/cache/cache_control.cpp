// Cache-Control parsing (RFC 9111 §5.2). Origins and clients send sloppy
// values, so the parser never throws: unknown directives are ignored and
// malformed values fall back to the reading least likely to serve stale or
// private content. Targeted fields (RFC 9213) are the exception: they are
// Structured Fields, parsed strictly, and an invalid one is ignored whole.
#include "relay/cache/cache_control.hpp"

#include <algorithm>

#include "relay/cache/structured_field.hpp"

namespace relay::cache {

namespace {

// RFC 9111 §1.2.2: a recipient that sees a larger delta-seconds value uses
// 2^31 instead.
constexpr std::int64_t kDeltaMax = std::int64_t{1} << 31;

// Removes the quotes and backslash escapes of a quoted-string
// (RFC 9110 §5.6.4); a token is returned as is.
std::string unquote(std::string_view v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
  v = v.substr(1, v.size() - 2);
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out.push_back(v[i]);
  }
  return out;
}

// A delta-seconds directive remembers whether its value came from a valid
// occurrence, so a later valid duplicate can replace an invalid one but not
// an earlier valid one.
struct DeltaSlot {
  std::optional<std::int64_t>* target;
  bool valid = false;
};

void assign_delta(DeltaSlot& slot, const std::optional<std::string>& value) {
  if (slot.valid) return;  // first valid occurrence wins (RFC 9111 §4.2.1)
  std::optional<std::int64_t> parsed;
  if (value) parsed = parse_delta_seconds(*value);
  if (parsed) {
    *slot.target = parsed;
    slot.valid = true;
  } else if (!slot.target->has_value()) {
    // Missing or invalid argument: 0 is the conservative reading (for
    // max-age/s-maxage it means stale, for max-stale and the RFC 5861
    // extensions it means no staleness tolerated).
    *slot.target = 0;
  }
}

// Field-name lists of no-cache="..." and private="..." (RFC 9111 §5.2.2.4,
// §5.2.2.7). The token form is accepted too, although senders should quote.
void append_field_names(std::vector<std::string>& out, std::string_view list) {
  http::for_each_list_element(list, [&](std::string_view name) {
    out.push_back(http::to_lower(name));
  });
}

struct Parser {
  CacheControl cc;
  DeltaSlot max_age{&cc.max_age};
  DeltaSlot s_maxage{&cc.s_maxage};
  DeltaSlot max_stale{&cc.max_stale};
  DeltaSlot min_fresh{&cc.min_fresh};
  DeltaSlot swr{&cc.stale_while_revalidate};
  DeltaSlot sie{&cc.stale_if_error};
  void directive(std::string_view element) {
    // Split at the first '=' only: a quoted value may contain more.
    std::string_view name = element;
    std::optional<std::string> value;
    if (auto eq = element.find('='); eq != std::string_view::npos) {
      name = http::trim(element.substr(0, eq));
      value = unquote(http::trim(element.substr(eq + 1)));
    }
    using http::iequals;
    if (iequals(name, "max-age")) {
      assign_delta(max_age, value);
    } else if (iequals(name, "s-maxage")) {
      assign_delta(s_maxage, value);
    } else if (iequals(name, "max-stale")) {
      // RFC 9111 §5.2.1.2: without a value any staleness is acceptable.
      if (value) {
        assign_delta(max_stale, value);
      } else {
        cc.max_stale_any = true;
      }
    } else if (iequals(name, "min-fresh")) {
      assign_delta(min_fresh, value);
    } else if (iequals(name, "stale-while-revalidate")) {
      assign_delta(swr, value);
    } else if (iequals(name, "stale-if-error")) {
      assign_delta(sie, value);
    } else if (iequals(name, "no-store")) {
      cc.no_store = true;
    } else if (iequals(name, "no-cache")) {
      field_list_or_flag(value, cc.no_cache, cc.no_cache_fields);
    } else if (iequals(name, "private")) {
      field_list_or_flag(value, cc.is_private, cc.private_fields);
    } else if (iequals(name, "public")) {
      cc.is_public = true;
    } else if (iequals(name, "must-revalidate")) {
      cc.must_revalidate = true;
    } else if (iequals(name, "proxy-revalidate")) {
      cc.proxy_revalidate = true;
    } else if (iequals(name, "must-understand")) {
      cc.must_understand = true;
    } else if (iequals(name, "immutable")) {
      cc.immutable = true;
    } else if (iequals(name, "only-if-cached")) {
      cc.only_if_cached = true;
    } else if (iequals(name, "no-transform")) {
      cc.no_transform = true;
    }
    // Anything else is an extension directive, ignored (RFC 9111 §5.2.3).
  }

  static void field_list_or_flag(const std::optional<std::string>& value, bool& flag,
                                 std::vector<std::string>& fields) {
    if (!value) {
      flag = true;
      return;
    }
    std::size_t before = fields.size();
    append_field_names(fields, *value);
    // An empty list ("no-cache=\"\"") names nothing; reading it as the
    // unqualified directive is the safe choice.
    if (fields.size() == before) flag = true;
  }

  void line(std::string_view value) {
    http::for_each_list_element(value, [&](std::string_view e) { directive(e); });
  }
};

// RFC 9213 §2.1: a targeted field is an RFC 8941 Dictionary whose members
// are the response directives, their arguments mapped to Structured Field
// types: delta-seconds are Integers, value-less directives the Boolean true,
// the field-name lists of no-cache and private Strings. A directive of
// relay's with any other type (max-age="60", max-age=1.5, no-store=?0)
// makes the whole field invalid: the RFC asks implementations not to
// consume such values, and falling back to Cache-Control is the reading
// that never loses a restriction the origin stated there (the cache-tests
// suite, cdn-cc-invalid-sh-type-wrong, expects the same). Unknown members
// are ignored whatever their type, and so are parameters.
class TargetedMapper {
 public:
  std::optional<CacheControl> map(const sf::Dictionary& dict) {
    for (const auto& [key, member] : dict) {
      const auto* item = std::get_if<sf::Item>(&member);
      if (!directive(key, item ? &item->value : nullptr)) return std::nullopt;
    }
    return std::move(cc_);
  }

 private:
  CacheControl cc_;

  // False when `key` is a directive relay knows and `value` (null for an
  // inner list) is not of its type.
  bool directive(std::string_view key, const sf::BareItem* value) {
    if (key == "max-age") return delta(value, cc_.max_age);
    if (key == "s-maxage") return delta(value, cc_.s_maxage);
    if (key == "stale-while-revalidate") return delta(value, cc_.stale_while_revalidate);
    if (key == "stale-if-error") return delta(value, cc_.stale_if_error);
    if (key == "no-store") return flag(value, cc_.no_store);
    if (key == "public") return flag(value, cc_.is_public);
    if (key == "must-revalidate") return flag(value, cc_.must_revalidate);
    if (key == "proxy-revalidate") return flag(value, cc_.proxy_revalidate);
    if (key == "must-understand") return flag(value, cc_.must_understand);
    if (key == "immutable") return flag(value, cc_.immutable);
    if (key == "no-transform") return flag(value, cc_.no_transform);
    if (key == "no-cache") return field_list(value, cc_.no_cache, cc_.no_cache_fields);
    if (key == "private") return field_list(value, cc_.is_private, cc_.private_fields);
    // Request directives (max-stale, min-fresh, only-if-cached) mean nothing
    // in a response field; like extensions they are ignored.
    return true;
  }

  static bool delta(const sf::BareItem* value, std::optional<std::int64_t>& out) {
    const auto* n = value ? std::get_if<std::int64_t>(value) : nullptr;
    if (!n || *n < 0) return false;
    out = std::min(*n, kDeltaMax);  // §1.2.2 of RFC 9111, like delta-seconds
    return true;
  }

  static bool flag(const sf::BareItem* value, bool& out) {
    const auto* b = value ? std::get_if<bool>(value) : nullptr;
    if (!b || !*b) return false;
    out = true;
    return true;
  }

  static bool field_list(const sf::BareItem* value, bool& flag_out, std::vector<std::string>& fields) {
    if (const auto* s = value ? std::get_if<std::string>(value) : nullptr) {
      std::size_t before = fields.size();
      append_field_names(fields, *s);
      if (fields.size() == before) flag_out = true;  // an empty list names nothing: unqualified
      return true;
    }
    return flag(value, flag_out);
  }
};

// The directives of the targeted field `name`, nullopt when it is absent,
// empty or invalid. Its field lines are combined first (RFC 8941 §4.2).
std::optional<CacheControl> targeted_directives(const http::Headers& response, std::string_view name) {
  auto combined = response.get_combined(name);
  if (!combined) return std::nullopt;
  auto dict = sf::parse_dictionary(*combined);
  // An empty field is ignored like an invalid one (§2.1); RFC 9213's own
  // example sends "none" to avoid exactly that.
  if (!dict || dict->empty()) return std::nullopt;
  return TargetedMapper{}.map(*dict);
}

}  // namespace

std::optional<std::int64_t> parse_delta_seconds(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v < kDeltaMax) v = v * 10 + (c - '0');
  }
  return v > kDeltaMax ? kDeltaMax : v;
}

CacheControl parse_cache_control(std::string_view value) {
  Parser p;
  p.line(value);
  return p.cc;
}

CacheControl parse_cache_control(const http::Headers& headers) {
  // Parsing each field line in order equals parsing the combined value
  // (RFC 9110 §5.3) without building it.
  Parser p;
  for (const auto& f : headers) {
    if (http::iequals(f.name, "Cache-Control")) p.line(f.value);
  }
  return p.cc;
}

CacheControl effective_cache_control(const http::Headers& response,
                                     const std::vector<std::string>& targeted_fields,
                                     bool* targeted_used) {
  // RFC 9213 §2.2: the first targeted field (in the configured order) that
  // is present and valid replaces Cache-Control; an empty or invalid one is
  // ignored as if absent (§2.1), so a typo cannot strip the origin's
  // ordinary policy.
  for (const auto& name : targeted_fields) {
    if (auto cc = targeted_directives(response, name)) {
      if (targeted_used) *targeted_used = true;
      return std::move(*cc);
    }
  }
  if (targeted_used) *targeted_used = false;
  return parse_cache_control(response);
}

}  // namespace relay::cache
