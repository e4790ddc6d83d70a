// The Redis store's own calls: get, get_in_progress, put, update_meta,
// remove, stats, and the MULTI/EXEC that publishes an entry whole (see
// store.hpp for the visibility rules, format.hpp for what is stored).
#include "relay/storage/redis_store.hpp"

#include <boost/asio/this_coro.hpp>
#include <vector>

#include "relay/util/log.hpp"
#include "store.hpp"

namespace relay::storage {
namespace redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Adds a key to a tag's set and makes the set live at least as long as the
// entry (ARGV[2], ms): sets are shared by entries of every keep time.
constexpr std::string_view tag_script =
    "redis.call('SADD', KEYS[1], ARGV[1]) "
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "return 1";

// True when EXEC answered and nothing inside failed; a PEXPIRE answering 0
// (the only integer replies in our transactions) means a chunk is gone.
bool exec_ok(const Result<std::vector<Reply>>& replies, bool& chunk_missing) {
  if (!replies || replies->empty() || replies->back().type != Reply::Type::array) return false;
  for (const auto& r : replies->back().elements) {
    if (r.is_error()) return false;
    chunk_missing |= r.type == Reply::Type::integer && r.integer == 0;
  }
  return true;
}

}  // namespace

error_code unavailable() {
  return make_error_code(Errc::storage_unavailable);
}

error_code note(const std::string& what, std::string_view why) {
  log::debug("redis: ", what, ": ", why);
  return unavailable();
}

// Compared in seconds first: a saturated keep_for (seconds::max()) would
// overflow in milliseconds.
std::chrono::milliseconds ttl_for(std::chrono::seconds keep_for) {
  if (keep_for <= 0s) return default_ttl;
  if (keep_for >= std::chrono::duration_cast<std::chrono::seconds>(max_ttl)) return max_ttl;
  return keep_for;
}

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count());
}

Task<void> RedisStore::publish(Connection& conn, const std::string& key, const Stored& stored,
                               std::vector<Command> last_bytes,
                               bool only_if_present, Command withdraw) {
  const auto ttl = ttl_for(stored.meta.keep_for);
  std::vector<Command> commands;
  // Before the transaction, so its reply stays the last: a set member whose
  // entry then fails to publish is only a stale member (see format.hpp).
  for (const auto& tag : stored.meta.internal.tags)
    commands.push_back({"EVAL", std::string(tag_script), "1", tag_key(tag), key, ms(ttl)});
  commands.push_back({"MULTI"});
  for (auto& command : last_bytes) commands.push_back(std::move(command));
  for (std::uint64_t n = 0; n < stored.chunks; ++n)
    commands.push_back({"PEXPIRE", chunk_key(stored.body_id, n), ms(ttl + chunk_grace)});
  commands.push_back({"SET", meta_key(key), encode(stored), "PX", ms(ttl)});
  if (only_if_present) commands.back().push_back("XX");
  if (!withdraw.empty()) commands.push_back(std::move(withdraw));
  commands.push_back({"EXEC"});
  auto replies = co_await conn.wait(conn.send(std::move(commands)));
  bool chunk_missing = false;
  if (!exec_ok(replies, chunk_missing)) co_return note(meta_key(key), "MULTI/EXEC failed");
  if (chunk_missing) {
    // Evicted meanwhile: better a miss than a read that fails midway.
    conn.send({{"DEL", meta_key(key)}});
    co_return note(meta_key(key), "a body chunk vanished: entry dropped");
  }
  if (!only_if_present) {
    const auto expiry = std::chrono::ceil<std::chrono::minutes>(std::chrono::steady_clock::now() + ttl);
    std::lock_guard lock(stats_mutex_);
    auto& [entries, bytes] = live_[expiry.time_since_epoch().count()];
    ++entries, bytes += stored.meta.body_size;
  }
  co_return Result<void>{};
}

Task<std::optional<Stored>> RedisStore::load(Connection& conn, const std::string& key) {
  // Built apart from the co_await: GCC 12 cannot keep an initializer_list's
  // array alive across a suspension ("array used as initializer").
  Command get{"GET", meta_key(key)};
  auto reply = co_await conn.command(std::move(get));
  if (!reply) co_return reply.error();
  if (reply->type == Reply::Type::nil) co_return std::optional<Stored>{};
  if (reply->type != Reply::Type::string) co_return note(meta_key(key), reply->str);
  auto stored = decode(reply->str);
  if (!stored) note(meta_key(key), "unreadable metadata, treated as a miss");
  co_return stored;
}

Task<std::optional<Hit>> RedisStore::get(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  auto stored = co_await load(*conn, key);
  if (!stored) co_return stored.error();
  if (!*stored) co_return std::optional<Hit>{};
  EntryMeta meta = (*stored)->meta;
  Hit hit{std::move(meta), make_reader(shared_from_this(), conn, std::move(**stored), meta_key(key))};
  co_return std::optional<Hit>{std::move(hit)};
}

Task<std::optional<Hit>> RedisStore::get_in_progress(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  Command get{"GET", progress_key(key)};
  auto reply = co_await conn->command(std::move(get));
  if (!reply) co_return reply.error();
  if (reply->type != Reply::Type::string) co_return std::optional<Hit>{};
  auto announced = decode(reply->str);
  if (!announced) co_return std::optional<Hit>{};
  EntryMeta meta = announced->meta;
  meta.body_size = 0;  // the announcement's is the writer's chunk size
  Hit hit{std::move(meta), make_progress_reader(shared_from_this(), conn, key, std::move(*announced))};
  co_return std::optional<Hit>{std::move(hit)};
}

Task<std::unique_ptr<BodyWriter>> RedisStore::put(const CacheKey& cache_key, EntryMeta meta) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  // Fail now rather than after the caller has streamed a body into nowhere.
  if (!conn->available()) co_return unavailable();
  co_return make_writer(shared_from_this(), std::move(conn), key, std::move(meta));
}

Task<void> RedisStore::update_meta(const CacheKey& cache_key, EntryMeta meta) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  auto loaded = co_await load(*conn, key);
  if (!loaded) co_return loaded.error();
  if (!*loaded) co_return Result<void>{};
  Stored stored = std::move(**loaded);
  meta.body_size = stored.meta.body_size;
  stored.meta = std::move(meta);
  co_return co_await publish(*conn, key, stored, {}, true);
}

Task<bool> RedisStore::remove(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  Command del{"DEL", meta_key(key)};
  auto reply = co_await conn->command(std::move(del));
  if (!reply || reply->type != Reply::Type::integer)
    co_return Result<bool>(boost::system::in_place_error, unavailable());
  co_return reply->integer > 0;
}

Stats RedisStore::stats() const {
  const auto now = std::chrono::floor<std::chrono::minutes>(std::chrono::steady_clock::now());
  std::lock_guard lock(stats_mutex_);
  live_.erase(live_.begin(), live_.upper_bound(now.time_since_epoch().count()));
  Stats s;
  for (const auto& [minute, counts] : live_) s.entries += counts.first, s.size_bytes += counts.second;
  return s;
}

}  // namespace redis

std::shared_ptr<Storage> make_redis_store(const config::RedisStorageConfig& cfg) {
  return std::make_shared<redis::RedisStore>(cfg, redis::options_for(cfg));
}

}  // namespace relay::storage
