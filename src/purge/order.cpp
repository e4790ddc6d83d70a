#include "relay/purge/order.hpp"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "relay/purge/selector.hpp"

namespace relay::purge {

namespace {

OrderResult refuse_order(std::string error) { return OrderResult{false, {}, std::move(error)}; }

}  // namespace

OrderResult parse_order(std::string_view json_body, const config::Config& cfg) {
  boost::system::error_code ec;
  auto value = boost::json::parse(json_body, ec);
  if (ec) return refuse_order("the body is not JSON: " + ec.message());
  if (!value.is_object()) return refuse_order("the body must be a JSON object such as {\"url\": \"http://host/path\"}");
  const auto& object = value.as_object();
  Order order;
  std::optional<SelectorResult> chosen;
  std::string chosen_name;
  for (const auto& [key, member] : object) {
    if (key == "soft") {
      if (!member.is_bool()) return refuse_order("\"soft\" must be true or false");
      order.mode = member.as_bool() ? storage::PurgeMode::soft : storage::PurgeMode::hard;
      continue;
    }
    if (key != "url" && key != "prefix" && key != "glob" && key != "tag" && key != "all")
      return refuse_order("unknown member \"" + std::string(key) + "\" (url, prefix, glob, tag, all, soft)");
    if (chosen) return refuse_order("name one of url, prefix, glob, tag, all; got \"" + chosen_name + "\" and \"" +
                               std::string(key) + "\"");
    chosen_name = key;
    if (key == "all") {
      if (!member.is_bool() || !member.as_bool()) return refuse_order("\"all\" must be true");
      chosen = all_selector();
      continue;
    }
    if (!member.is_string()) {
      // Appended, not `"\"" + std::string(key) + ...`: GCC 12 misreads that as an overlapping copy (-Wrestrict).
      std::string error = "\"";
      error.append(key).append("\" must be a string");
      return refuse_order(std::move(error));
    }
    const std::string_view text = member.as_string();
    chosen = key == "url"      ? url_selector(text, cfg)
             : key == "prefix" ? prefix_selector(text, cfg)
             : key == "glob"   ? glob_selector(text, cfg)
                               : tag_selector(text);
  }
  if (!chosen) return refuse_order("name what to purge: url, prefix, glob, tag or all");
  if (!chosen->ok) return refuse_order(chosen_name + ": " + chosen->error);
  order.selector = std::move(chosen->selector);
  return OrderResult{true, std::move(order), {}};
}

}  // namespace relay::purge
