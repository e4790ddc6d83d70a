// Cache-Control parsing (RFC 9111 §5.2). Origins and clients send sloppy
// values, so the parser never throws: unknown directives are ignored and
// malformed values fall back to the reading least likely to serve stale or
// private content.
#include "relay/cache/cache_control.hpp"


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
  // Whether any directive name was recognized: RFC 9213 targeted fields
  // count as present only when they say something relay understands.
  bool recognized = false;

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
    } else {
      return;  // RFC 9111 §5.2.3: unrecognized extension directives are ignored.
    }
    recognized = true;
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
  // is present and valid replaces Cache-Control. An empty or unintelligible
  // one is ignored as if absent (§2.1), so a typo cannot strip the
  // origin's ordinary policy.
  for (const auto& name : targeted_fields) {
    Parser p;
    for (const auto& f : response) {
      if (http::iequals(f.name, name)) p.line(f.value);
    }
    if (p.recognized) {
      if (targeted_used) *targeted_used = true;
      return p.cc;
    }
  }
  if (targeted_used) *targeted_used = false;
  return parse_cache_control(response);
}

}  // namespace relay::cache
