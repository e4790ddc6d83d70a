// Small helpers on request-targets shared by the request path.
#pragma once

#include <string>
#include <string_view>

namespace relay::proxy {

// The path of an origin-form target (before '?').
inline std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// An absolute-form target (RFC 9112 §3.2.2) as origin-form; others unchanged.
inline std::string origin_form(const std::string& target) {
  auto scheme_end = target.find("://");
  if (target.starts_with('/') || target == "*" || scheme_end == std::string::npos) return target;
  auto path = target.find_first_of("/?", scheme_end + 3);
  if (path == std::string::npos) return "/";
  std::string out;
  if (target[path] == '?') out.push_back('/');
  out.append(target, path, std::string::npos);
  return out;
}

// Generation ids for Vary markers, and the field that carries them.
std::string new_vary_generation();
std::string_view vary_generation_field();

}  // namespace relay::proxy
