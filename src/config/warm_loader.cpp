// [[warm]]: the cache-warming sources. Each entry names a URL list file or
// a sitemap URL; the file is read and the sitemap fetched at every run (an
// operator edits the list without a reload), so only their form is checked
// here. Names must be unique: they label metrics.
#include <set>

#include "loader.hpp"
#include "relay/config/config.hpp"
#include "table_reader.hpp"

namespace relay::config::detail {

namespace {
bool http_url(std::string_view url) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) return false;
  try {
    UpstreamUrl::parse(url.substr(0, url.find('/', url.find("//") + 2)));
  } catch (const std::invalid_argument&) {
    return false;
  }
  return true;
}
}  // namespace

static WarmSource read_warm(Loader& ld, const toml::node& node, const std::string& name) {
  WarmSource source;
  source.line = static_cast<int>(node.source().begin.line);
  const auto text = [](const toml::node& n) { return value_of<std::string>(Kind::String, n); };
  read_table(ld, node, name,
             Readers{
                 {"name", [&](const toml::node& n, const std::string&) {
                    source.name = text(n);
                    if (!valid_name(source.name))
                      throw std::invalid_argument("expected letters, digits, '-', '_' or '.', got \"" + source.name + "\"");
                  }},
                 {"urls", [&](const toml::node& n, const std::string&) {
                    source.urls = text(n);
                    if (source.urls.empty()) throw std::invalid_argument("expected the path of a file of URLs");
                  }},
                 {"sitemap", [&](const toml::node& n, const std::string&) {
                    source.sitemap = text(n);
                    if (!http_url(source.sitemap))
                      throw std::invalid_argument("expected an http:// or https:// URL, got \"" + source.sitemap + "\"");
                  }},
                 {"host", [&](const toml::node& n, const std::string&) {
                    source.host = text(n);
                    if (!http_url("http://" + source.host + "/") || source.host.find('/') != std::string::npos)
                      throw std::invalid_argument("expected a host name with an optional :port, got \"" + source.host + "\"");
                  }},
                 {"every", [&](const toml::node& n, const std::string&) {
                    source.every = value_of<Duration>(Kind::Duration, n);
                    if (source.every.count() != 0 && source.every < std::chrono::seconds(1))
                      throw std::invalid_argument("must be 0 (at start only) or at least 1s");
                  }},
                 {"rate", [&](const toml::node& n, const std::string&) {
                    source.rate = value_of<double>(Kind::Number, n);
                    if (!(source.rate > 0) || source.rate > 100'000)
                      throw std::invalid_argument("must be a number of requests per second above 0 (at most 100000)");
                  }},
                 {"concurrency", [&](const toml::node& n, const std::string&) { source.concurrency = int_in(n, 1, 256); }},
                 {"max_urls", [&](const toml::node& n, const std::string&) { source.max_urls = int_in(n, 1, 10'000'000); }},
                 {"variants", [&](const toml::node& n, const std::string&) {
                    const auto* list = n.as_array();
                    if (!list)
                      throw std::invalid_argument("expected an array of field tables like [{ \"Accept-Encoding\" = \"gzip\" }], got " + shown(n));
                    for (const auto& entry : *list) {
                      try {
                        source.variants.push_back(field_values(entry));
                      } catch (const std::invalid_argument& e) {
                        throw std::invalid_argument("[" + std::to_string(source.variants.size()) + "]: " + e.what());
                      }
                    }
                  }},
             });
  const std::string at = describe(ld.in_file(source.line)) + ": " + name;
  if (source.urls.empty() == source.sitemap.empty())
    throw ConfigError(at + ": needs exactly one of \"urls\" (a file of URLs) and \"sitemap\" (a sitemap URL)");
  if (source.name.empty()) source.name = name;
  return source;
}

void Loader::apply_warm(const toml::node& node, const std::string& where) {
  const auto* list = node.as_array();
  if (!list) throw ConfigError(where + "expected an array of tables ([[warm]]), got " + shown(node));
  std::set<std::string, std::less<>> names;
  for (const auto& entry : *list) {
    const std::string name = "warm[" + std::to_string(cfg.warm.size() + 1) + "]";
    auto source = read_warm(*this, entry, name);
    if (!names.insert(source.name).second)
      throw ConfigError(describe(in_file(source.line)) + ": " + name + ".name: \"" + source.name +
                        "\" is already the name of another [[warm]] source");
    origin[name] = in_file(source.line);
    cfg.warm.push_back(std::move(source));
  }
}

}  // namespace relay::config::detail
