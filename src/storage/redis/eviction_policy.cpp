// The start-up check of the Redis relay stores in (eviction_policy in
// redis_store.hpp): one short synchronous connection, CONFIG GET
// maxmemory-policy, a warning when the policy evicts keys without a TTL
// or without regard to it. Best effort: an unreachable server, a refused
// CONFIG (managed services often rename it) or an unknown reply says
// nothing; the store reports its own connection problems.
#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "relay/storage/redis_store.hpp"
#include "relay/util/log.hpp"

namespace relay::storage {

namespace {
using Context = std::unique_ptr<redisContext, decltype(&redisFree)>;
using ReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

ReplyPtr ask(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lengths;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* reply = redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lengths.data());
  return ReplyPtr(static_cast<redisReply*>(reply), &freeReplyObject);
}
}  // namespace

std::optional<std::string> redis_eviction_policy(const config::RedisStorageConfig& cfg) {
  const auto url = redis::current_endpoint(cfg);
  const auto ms = cfg.connect_timeout.count();
  const timeval timeout{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  Context c(redisConnectWithTimeout(url.host.c_str(), url.port, timeout), &redisFree);
  if (!c || c->err) return std::nullopt;
  redisSetTimeout(c.get(), timeout);
  if (!url.password.empty()) {
    auto auth = ask(c.get(), {"AUTH", url.password});
    if (!auth || auth->type == REDIS_REPLY_ERROR) return std::nullopt;
  }
  auto reply = ask(c.get(), {"CONFIG", "GET", "maxmemory-policy"});
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return std::nullopt;
  const auto* value = reply->element[1];
  if (value->type != REDIS_REPLY_STRING) return std::nullopt;
  return std::string(value->str, value->len);
}

void warn_about_eviction_policy(const config::RedisStorageConfig& cfg) {
  const auto policy = redis_eviction_policy(cfg);
  if (!policy || !policy->starts_with("allkeys-")) return;
  const auto where = redis::current_endpoint(cfg);
  log::warn("redis ", where.host, ":", where.port, " evicts with maxmemory-policy ", *policy,
            ": it may drop parts of a stored body and keep the rest; relay then answers such an entry as a miss, "
            "but the cache keeps less than it could. Use volatile-lru (or volatile-ttl, noeviction): every key "
            "relay writes has a TTL");
}

}  // namespace relay::storage
