// The target normaliser and the cache key builder: what is keyed, what is
// forwarded and what rules match must be one normalised request. Input:
// "<Host>\n<request-target>\n<rule glob>", missing parts empty. Beyond not
// crashing, the harness checks the invariants the request path relies on:
// a normalised target normalises to itself, and two requests that
// normalise alike get the same key.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/cache/key.hpp"
#include "relay/cache/target.hpp"
#include "relay/config/config.hpp"
#include "relay/http/headers.hpp"

using namespace relay;

namespace {
std::string_view next_line(std::string_view& in) {
  auto nl = in.find('\n');
  auto line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return line;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto host = next_line(in);
  const auto target = next_line(in);
  const auto glob = in;

  http::Headers headers;
  if (!host.empty()) headers.add("Host", std::string(host));
  config::CacheKeyConfig cfg;
  cfg.ignore_params = {"utm_*", "fbclid"};
  cfg.headers = {"Accept-Language"};
  headers.add("Accept-Language", std::string(glob));

  (void)cache::glob_match(glob, target);
  (void)cache::glob_match(glob, target, true);
  (void)cache::key_port(host, "http");

  for (std::string_view scheme : {"http", "https"}) {
    auto first = cache::normalize_target(target, headers, scheme);
    if (!first.ok) continue;
    auto key = cache::make_key(first.target, headers, cfg);
    auto forwarded = cache::forwarded_target(first.target, cfg);
    // The forwarded target, received again with the same Host, is the same
    // request: same path (so the same rules), same key.
    http::Headers again_headers;
    again_headers.add("Host", first.target.authority);
    again_headers.add("Accept-Language", std::string(glob));
    auto again = cache::normalize_target(forwarded, again_headers, scheme);
    const bool same = again.ok && again.target.path == first.target.path &&
                      cache::make_key(again.target, again_headers, cfg) == key;
    if (!same) {
      std::fprintf(stderr, "target %.*s (Host %.*s) keyed %s, forwarded as %s, then %s%s\n",
                   static_cast<int>(target.size()), target.data(), static_cast<int>(host.size()), host.data(),
                   key.primary.c_str(), forwarded.c_str(), again.ok ? "keyed " : "refused: ",
                   again.ok ? cache::make_key(again.target, again_headers, cfg).primary.c_str() : again.error.c_str());
      std::abort();
    }
  }
  return 0;
}
