// Cache-key construction: the only place that decides which requests share a
// stored response. The URL part comes from the normalised target
// (target.cpp), so equivalent URLs map to one key and the key names exactly
// what is forwarded; anything else that can change the response
// (configured request headers) must be part of it.
#include "relay/cache/key.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "relay/util/string_stash.hpp"

namespace relay::cache {

namespace {

// Header values are free text: escape the separators so that two different
// header combinations can never produce the same key.
void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '%') {
      out += "%25";
    } else if (c == '|') {
      out += "%7C";
    } else {
      out += c;
    }
  }
}

// Appends the query as keyed: the forwarded parameters, sorted when configured.
void append_query(std::string& out, const Target& target, const config::CacheKeyConfig& cfg) {
  if (target.params.empty()) return;
  // Pointers to the kept parameters, on the stack unless there are many.
  constexpr std::size_t kOnStack = 32;
  std::array<const QueryParam*, kOnStack> local;
  std::vector<const QueryParam*> many;
  if (target.params.size() > kOnStack) many.resize(target.params.size());
  const std::span<const QueryParam*> room = many.empty() ? std::span<const QueryParam*>(local) : std::span(many);
  std::size_t kept = 0;
  for (const auto& p : target.params) {
    if (!ignored_param(p, cfg)) room[kept++] = &p;
  }
  const auto params = room.first(kept);
  if (cfg.sort_query) {
    // has_value takes part so "a" (no value) and "a=" stay distinct and
    // always sort the same way.
    std::sort(params.begin(), params.end(), [](const QueryParam* a, const QueryParam* b) {
      return std::tie(a->name, a->has_value, a->value) < std::tie(b->name, b->has_value, b->value);
    });
  }
  char separator = '?';
  for (const auto* p : params) {
    out += separator;
    separator = '&';
    out += p->name;
    if (p->has_value) {
      out += '=';
      out += p->value;
    }
  }
}

// Appends a configured header's value, each line trimmed before joining so
// that whitespace differences between clients do not split the cache.
void append_header_value(std::string& out, const http::Headers& headers, std::string_view name) {
  bool first = true;
  for (const auto& f : headers) {
    if (!http::iequals(f.name, name)) continue;
    if (!first) out += ", ";
    first = false;
    append_escaped(out, http::trim(f.value));
  }
}

// What the key will take, so that it is built in one allocation (escaped
// header values may still grow it).
std::size_t expected_size(std::string_view scheme, const Target& target, const http::Headers& headers,
                          const config::CacheKeyConfig& cfg) {
  std::size_t size = scheme.size() + 3 + target.authority.size() + target.path.size();
  for (const auto& p : target.params) size += p.name.size() + p.value.size() + 2;
  for (const auto& name : cfg.headers) {
    size += name.size() + 2;
    for (const auto& f : headers) {
      if (http::iequals(f.name, name)) size += f.value.size() + 2;
    }
  }
  return size;
}

}  // namespace

std::optional<std::string> key_port(std::string_view port, std::string_view scheme) {
  if (port.empty()) return std::string();
  unsigned long n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned long>(c - '0');
    if (n > 65535) return std::nullopt;
  }
  if ((scheme == "http" && n == 80) || (scheme == "https" && n == 443)) return std::string();
  return std::to_string(n);
}

CacheKey make_key(const Target& target, const http::Headers& headers, const config::CacheKeyConfig& cfg) {
  const std::string_view scheme = cfg.scheme ? std::string_view(target.scheme) : std::string_view("http");
  std::string primary = util::recycled_string();
  primary.reserve(expected_size(scheme, target, headers, cfg));
  primary += scheme;
  primary += "://";
  primary += target.authority;
  primary += target.path;
  append_query(primary, target, cfg);
  for (const auto& name : cfg.headers) {
    primary += '|';
    for (char c : name) primary += http::ascii_lower(c);
    primary += '=';
    append_header_value(primary, headers, name);
  }
  return CacheKey{std::move(primary)};
}

KeyResult make_key(const http::Request& req, const config::CacheKeyConfig& cfg, std::string_view scheme) {
  KeyResult r;
  auto normalized = normalize_target(req.target, req.headers, scheme);
  if (!normalized.ok) {
    r.error = std::move(normalized.error);
    return r;
  }
  r.ok = true;
  r.key = make_key(normalized.target, req.headers, cfg);
  return r;
}

bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case) noexcept {
  // Greedy match with a single backtrack point: the classic linear-ish
  // algorithm, enough for short parameter names.
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() &&
               (ignore_case ? http::iequals(pattern.substr(p, 1), text.substr(t, 1)) : pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace relay::cache
