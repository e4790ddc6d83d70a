// What a [[warm]] source yields: the URLs of a list file or of a sitemap
// (sitemaps.org protocol 0.9), split into what a request needs. Pure text
// handling: reading the file and fetching the sitemap are warmer.cpp's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relay::warm {

// One URL to warm, as a request carries it.
struct WarmTarget {
  std::string scheme;     // "http" or "https"
  std::string authority;  // the Host field
  std::string target;     // origin-form: path and query, no fragment

  bool operator==(const WarmTarget&) const = default;
};

// An absolute http(s) URL, or a path ("/a?b") on `host` (scheme http).
// False for anything else (another scheme, no host, spaces or controls).
bool parse_target(std::string_view text, std::string_view host, WarmTarget& out);

struct UrlList {
  std::vector<WarmTarget> targets;
  std::vector<std::string> rejected;  // "line 7: ..." for the log
  bool truncated = false;             // max_urls reached
};

// A URL list file: one URL or path per line; blank lines and '#' comments
// skipped; at most max_urls kept.
UrlList parse_url_list(std::string_view text, std::string_view host, std::size_t max_urls);

struct Sitemap {
  bool index = false;  // a <sitemapindex>: locs are sitemaps, not pages
  std::vector<std::string> locs;  // the <loc> of each <url> or <sitemap>, entities decoded
};

// A sitemap or sitemap index. Only the protocol's own <loc> elements are
// read (not an extension's such as <image:loc>); comments and CDATA are
// understood. Malformed text yields what could be read.
Sitemap parse_sitemap(std::string_view xml);

// The relay_warm_requests_total result of a warm request's answer:
// "failed" (no response, or a status from 400 up), "hit" (HIT or STALE:
// already there), "filled" (stored, revalidated, or another request's fill
// followed), else "not_stored". cache_status: the Cache-Status field.
std::string_view warm_result(int status, std::string_view x_cache, std::string_view cache_status) noexcept;

}  // namespace relay::warm
