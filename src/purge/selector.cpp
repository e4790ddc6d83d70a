// Operator input to purge selectors. The URL part of a cache key is built
// exactly as for a request (normalize_target, the path's rule, make_key);
// keyed request headers are left out, as a URL selector covers every value
// of them (storage/purge.cpp).
#include "relay/purge/selector.hpp"

#include <boost/url/parse.hpp>

#include "relay/cache/key.hpp"
#include "relay/cache/policy.hpp"
#include "relay/cache/target.hpp"
#include "relay/gateway/route_table.hpp"
#include "relay/purge/tags.hpp"

namespace relay::purge {

namespace {

using Kind = storage::PurgeSelector::Kind;

SelectorResult refused(std::string error) { return SelectorResult{false, {}, std::move(error)}; }

// The key of `url` without keyed headers, or an error.
SelectorResult url_key(std::string_view url, Kind kind, const config::Config& cfg) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return refused(std::string(url).append(" is not an absolute URL (http://host/path)"));
  const auto scheme = http::to_lower(parsed->scheme());
  if (scheme != "http" && scheme != "https") return refused("only http and https URLs are cached");
  if (!parsed->has_authority() || parsed->encoded_host().empty()) return refused("the URL has no host");
  // Assembled with append: GCC 12 sees a false overlap (-Wrestrict) in "/" + ...
  std::string target;
  target.append(parsed->encoded_path().empty() ? std::string_view("/") : std::string_view(parsed->encoded_path()));
  if (parsed->has_query()) target.append(1, '?').append(parsed->encoded_query());
  http::Headers headers;
  headers.add("Host", std::string(parsed->encoded_host_and_port()));
  // The key decides whether the scheme counts (cache.key.scheme).
  auto normalized = cache::normalize_target(target, headers, scheme);
  if (!normalized.ok) return refused(normalized.error);
  return SelectorResult{true, {kind, url_selector(normalized.target, cfg).value}, {}};
}

// Stands for '*' while a glob goes through URL normalisation, which would
// refuse it in a host and may encode it elsewhere. Letters and digits only,
// so normalisation keeps it (lower-cased in the host).
constexpr std::string_view kStar = "x7relaystar7x";

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  for (auto at = text.find(from); at != std::string_view::npos; at = text.find(from)) {
    out.append(text.substr(0, at)).append(to);
    text.remove_prefix(at + from.size());
  }
  return out.append(text);
}

}  // namespace

storage::PurgeSelector url_selector(const cache::Target& target, const config::Config& cfg) {
  // The key as the request path builds it: the route's rules, then [[cache.rules]].
  const auto route = gateway::match_route(cfg.routes, target.authority, target.path);
  auto key_config =
      cache::resolve_rule(cfg.cache, target.path, route ? std::span(cfg.routes[*route].cache_rules)
                                                        : std::span<const config::CacheRule>())
          .key;
  key_config.headers.clear();
  return {storage::PurgeSelector::Kind::url, cache::make_key(target, {}, key_config).primary};
}

SelectorResult url_selector(std::string_view url, const config::Config& cfg) {
  return url_key(url, Kind::url, cfg);
}

SelectorResult prefix_selector(std::string_view prefix, const config::Config& cfg) {
  return url_key(prefix, Kind::prefix, cfg);
}

SelectorResult glob_selector(std::string_view pattern, const config::Config& cfg) {
  if (pattern.find(kStar) != std::string_view::npos) return refused("the pattern holds a reserved sequence");
  auto result = url_key(replace_all(pattern, "*", kStar), Kind::glob, cfg);
  if (result.ok) result.selector.value = replace_all(result.selector.value, kStar, "*");
  return result;
}

SelectorResult tag_selector(std::string_view tag) {
  if (!valid_tag(tag)) return refused("a tag is 1 to 1024 visible characters without spaces or commas");
  return SelectorResult{true, {Kind::tag, std::string(tag)}, {}};
}

SelectorResult all_selector() { return SelectorResult{true, {Kind::all, {}}, {}}; }

}  // namespace relay::purge
