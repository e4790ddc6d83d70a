// URL lists and sitemaps (url_sources.hpp).
#include "relay/warm/url_sources.hpp"

#include <algorithm>
#include <cstdint>

namespace relay::warm {

namespace {

constexpr std::string_view kSpace = " \t\r\n";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// UTF-8 of one code point (XML character references).
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// XML text: the five predefined entities and character references; an
// unknown one is kept as written.
std::string decode_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto semi = s[i] == '&' ? s.find(';', i) : std::string_view::npos;
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const auto name = s.substr(i + 1, semi - i - 1);
    std::uint32_t cp = 0;
    bool known = true;
    if (name == "amp") cp = '&';
    else if (name == "lt") cp = '<';
    else if (name == "gt") cp = '>';
    else if (name == "quot") cp = '"';
    else if (name == "apos") cp = '\'';
    else if (name.size() > 1 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const auto digits = name.substr(hex ? 2 : 1);
      known = !digits.empty();
      for (char c : digits) {
        int d = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0 || cp > 0x10ffff) {
          known = false;
          break;
        }
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
      }
      known = known && cp > 0 && cp <= 0x10ffff;
    } else {
      known = false;
    }
    if (!known) {
      out += s[i];
      continue;
    }
    append_utf8(out, cp);
    i = semi;
  }
  return out;
}

// Is `tag` (the text after '<') the start of element `name`, unprefixed?
bool opens(std::string_view tag, std::string_view name) {
  return tag.starts_with(name) && (tag.size() == name.size() || std::string_view(" \t\r\n/>").find(tag[name.size()]) != std::string_view::npos);
}

}  // namespace

bool parse_target(std::string_view text, std::string_view host, WarmTarget& out) {
  if (text.empty() || !printable(text)) return false;
  text = text.substr(0, text.find('#'));
  if (text.starts_with('/')) {
    if (text.starts_with("//") || host.empty()) return false;
    out = WarmTarget{"http", std::string(host), std::string(text)};
    return true;
  }
  const auto colon = text.find("://");
  if (colon == std::string_view::npos) return false;
  const auto scheme = lower(text.substr(0, colon));
  if (scheme != "http" && scheme != "https") return false;
  const auto rest = text.substr(colon + 3);
  const auto end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
  std::string target(end == std::string_view::npos ? std::string_view("/") : rest.substr(end));
  if (target.starts_with('?')) target.insert(0, "/");
  out = WarmTarget{scheme, lower(authority), std::move(target)};
  return true;
}

UrlList parse_url_list(std::string_view text, std::string_view host, std::size_t max_urls) {
  UrlList list;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++line_number;
    if (line.empty() || line.starts_with('#')) continue;
    WarmTarget target;
    if (line.starts_with('/') && !line.starts_with("//") && host.empty()) {
      list.rejected.push_back("line " + std::to_string(line_number) +
                              ": a path needs [[warm]] host (the Host clients send, which the cache key holds): " +
                              std::string(line.substr(0, 200)));
      continue;
    }
    if (!parse_target(line, host, target)) {
      list.rejected.push_back("line " + std::to_string(line_number) + ": not an http(s) URL or /path: " +
                              std::string(line.substr(0, 200)));
      continue;
    }
    if (list.targets.size() >= max_urls) {
      list.truncated = true;
      break;
    }
    list.targets.push_back(std::move(target));
  }
  return list;
}

Sitemap parse_sitemap(std::string_view xml) {
  Sitemap map;
  bool root_seen = false;
  std::size_t at = 0;
  while ((at = xml.find('<', at)) != std::string_view::npos) {
    const auto tag = xml.substr(at + 1);
    if (tag.starts_with("!--")) {
      const auto end = xml.find("-->", at + 4);
      if (end == std::string_view::npos) break;
      at = end + 3;
      continue;
    }
    if (tag.starts_with("?") || tag.starts_with("!") || tag.starts_with("/")) {
      ++at;
      continue;
    }
    if (!root_seen) {
      root_seen = true;
      map.index = opens(tag, "sitemapindex");
    }
    if (!opens(tag, "loc")) {
      ++at;
      continue;
    }
    const auto open_end = xml.find('>', at);
    if (open_end == std::string_view::npos) break;
    const auto close = xml.find("</loc", open_end);
    if (close == std::string_view::npos) break;
    auto content = trim(xml.substr(open_end + 1, close - open_end - 1));
    if (content.starts_with("<![CDATA[") && content.ends_with("]]>")) {
      content = trim(content.substr(9, content.size() - 12));
      map.locs.emplace_back(content);
    } else if (!content.empty()) {
      map.locs.push_back(decode_entities(content));
    }
    at = close + 1;
  }
  return map;
}

std::string_view warm_result(int status, std::string_view x_cache, std::string_view cache_status) noexcept {
  if (status == 0 || status >= 400) return "failed";
  if (x_cache == "HIT" || x_cache == "STALE") return "hit";
  if (x_cache == "REVALIDATED" || x_cache == "COALESCED") return "filled";
  // relay's member is the last one (RFC 9211: caches nearer the origin first).
  const auto own = cache_status.substr(cache_status.rfind(',') == std::string_view::npos ? 0 : cache_status.rfind(',') + 1);
  for (std::size_t at = own.find("stored"); at != std::string_view::npos; at = own.find("stored", at + 1)) {
    const bool starts = at > 0 && (own[at - 1] == ';' || own[at - 1] == ' ');
    const bool ends = at + 6 == own.size() || own[at + 6] == ';' || own[at + 6] == ' ';
    if (starts && ends) return "filled";
  }
  return "not_stored";
}

}  // namespace relay::warm
