// The Redis store's purge (store.hpp): which keys to look at (SCAN MATCH
// over metadata keys, never KEYS; a tag's set by SSCAN), then per batch one
// MGET and one pipeline of compare-and-set scripts. Bodies are left to
// expire, as after remove(): a reader may still be streaming them.
#include <boost/asio/this_coro.hpp>

#include "../purge_walk.hpp"
#include "store.hpp"

namespace relay::storage::redis {
namespace {

namespace asio = boost::asio;

// Keys per SCAN / SSCAN step (a hint to Redis, not a limit).
constexpr std::string_view scan_count = "1000";

// Removes (ARGV[2] empty) or rewrites, keeping its TTL, the metadata in
// KEYS[1] if it is still ARGV[1], what the purge read and judged.
constexpr std::string_view purge_script =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 1 end "
    "local ttl = redis.call('PTTL', KEYS[1]) "
    "if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[2]) end "
    "return 1";

// A literal inside a Redis glob pattern.
void append_literal(std::string& pattern, std::string_view literal) {
  for (char c : literal) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern.push_back('\\');
    pattern.push_back(c);
  }
}

}  // namespace

std::string RedisStore::meta_pattern(const PurgeSelector& selector) const {
  std::string pattern;
  append_literal(pattern, meta_key(""));
  if (selector.kind == PurgeSelector::Kind::glob) {
    // Our globs know only '*', which Redis's '*' means too.
    for (char c : selector.value) c == '*' ? pattern.push_back('*') : append_literal(pattern, {&c, 1});
  } else if (selector.kind != PurgeSelector::Kind::all) {
    append_literal(pattern, selector.value);
  }
  // Keyed-header forms and Vary variants continue the key.
  return pattern.append(1, '*');
}

Task<void> RedisStore::purge_keys(Connection& conn, const PurgeRequest& request, const std::vector<std::string>& keys,
                                  std::uint64_t& count) {
  Command mget{"MGET"};
  for (const auto& key : keys) mget.push_back(meta_key(key));
  auto values = co_await conn.command(std::move(mget));
  if (!values || values->type != Reply::Type::array || values->elements.size() != keys.size())
    co_return note("purge", "MGET failed");
  std::vector<Command> scripts;
  std::vector<std::uint64_t> counts;  // what each script adds if it applies
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& value = values->elements[i];
    if (value.type != Reply::Type::string) continue;  // gone meanwhile
    auto stored = decode(value.str);
    // Another format is a miss to every reader already; it expires by itself.
    if (!stored || !purge_matches(request, keys[i], stored->meta)) continue;
    std::string replacement;
    if (request.mode == PurgeMode::soft) {
      // SCAN may name a key twice (while Redis rehashes): what this very
      // purge marked already is not counted again.
      if (stored->meta.internal.stale_at == request.at) continue;
      if (!mark_stale(stored->meta, request)) {
        count += purge_count(stored->meta);
        continue;
      }
      replacement = encode(*stored);
    }
    scripts.push_back({"EVAL", std::string(purge_script), "1", meta_key(keys[i]), value.str, std::move(replacement)});
    counts.push_back(purge_count(stored->meta));
  }
  if (scripts.empty()) co_return Result<void>{};
  auto replies = co_await conn.wait(conn.send(std::move(scripts)));
  if (!replies) co_return note("purge", "compare-and-set scripts failed");
  for (std::size_t i = 0; i < replies->size(); ++i) {
    const auto& r = (*replies)[i];
    if (r.is_error()) co_return note("purge", r.str);
    if (r.type == Reply::Type::integer && r.integer == 1) count += counts[i];
  }
  co_return Result<void>{};
}

Task<std::uint64_t> RedisStore::purge(const PurgeRequest& request) {
  // The shared level was purged by whoever published the purge.
  if (request.scope == PurgeScope::this_instance) co_return std::uint64_t{0};
  auto conn = connection_for(co_await asio::this_coro::executor);
  const bool by_tag = request.selector.kind == PurgeSelector::Kind::tag;
  const std::string set = by_tag ? tag_key(request.selector.value) : std::string();
  const std::string pattern = by_tag ? std::string() : meta_pattern(request.selector);
  const std::string meta_prefix = meta_key("");
  std::uint64_t count = 0;
  std::string cursor = "0";
  do {
    Command scan = by_tag ? Command{"SSCAN", set, cursor, "COUNT", std::string(scan_count)}
                          : Command{"SCAN", cursor, "MATCH", pattern, "COUNT", std::string(scan_count)};
    auto reply = co_await conn->command(std::move(scan));
    if (!reply || reply->type != Reply::Type::array || reply->elements.size() != 2 ||
        reply->elements[1].type != Reply::Type::array)
      co_return Result<std::uint64_t>(note("purge", reply ? reply->str : "SCAN failed"));
    cursor = reply->elements[0].str;
    std::vector<std::string> keys;
    for (auto& found : reply->elements[1].elements) {
      // SCAN names metadata keys, a tag's set cache keys.
      if (!by_tag) found.str.erase(0, meta_prefix.size());
      keys.push_back(std::move(found.str));
    }
    if (keys.empty()) continue;
    if (auto done = co_await purge_keys(*conn, request, keys, count); !done)
      co_return Result<std::uint64_t>(done.error());
  } while (cursor != "0");
  // Its members are gone; soft-purged ones keep their tags, and their set.
  if (by_tag && request.mode == PurgeMode::hard) {
    Command del{"UNLINK", set};
    if (auto r = co_await conn->command(std::move(del)); !r || r->is_error())
      co_return Result<std::uint64_t>(note("purge", "UNLINK of a tag's set failed"));
  }
  co_return count;
}

}  // namespace relay::storage::redis
