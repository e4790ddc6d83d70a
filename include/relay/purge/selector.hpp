// What an operator asks to purge, as the storage layer matches it. URLs are
// written as a client requests them ("http://www.example.com/a?b=1") and
// go through the same normalisation a request does (cache/target.hpp,
// cache/key.hpp): the rule's ignored parameters, sorted query, decoded
// unreserved characters, lower-case host, default port dropped. So a purge
// names exactly the entries the equivalent request would have used. Pure.
#pragma once

#include <string>
#include <string_view>

#include "relay/cache/target.hpp"
#include "relay/config/config.hpp"
#include "relay/storage/purge.hpp"

namespace relay::purge {

struct SelectorResult {
  bool ok = false;
  storage::PurgeSelector selector;
  std::string error;  // why the input was refused (a 400 for the caller)
};

// One URL (every Vary variant and keyed-header form of it).
SelectorResult url_selector(std::string_view url, const config::Config& cfg);
// The same for a request's normalised target (the PURGE method).
storage::PurgeSelector url_selector(const cache::Target& target, const config::Config& cfg);
// Every URL starting with `prefix` ("http://www.example.com/static/").
SelectorResult prefix_selector(std::string_view prefix, const config::Config& cfg);
// Every URL matching a pattern where '*' stands for any run of characters,
// in the host, path or query ("http://www.example.com/static/*.css").
SelectorResult glob_selector(std::string_view pattern, const config::Config& cfg);
SelectorResult tag_selector(std::string_view tag);
SelectorResult all_selector();

}  // namespace relay::purge
