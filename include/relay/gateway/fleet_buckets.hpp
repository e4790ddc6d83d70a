// Rate-limit buckets shared by every relay instance that uses the same
// Redis: each decision is one atomic script run by the Redis server with its
// own clock, so two instances never admit against the same token. An error
// means the server could not be asked (away, slow past command_timeout):
// the caller decides locally instead (rate_limiter.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "relay/config/config.hpp"
#include "relay/gateway/gcra.hpp"
#include "relay/util/result.hpp"

namespace relay::gateway {

class FleetBuckets {
 public:
  virtual ~FleetBuckets() = default;
  // One request against the bucket `name` ("<route>:<key>"; the backend adds its prefix).
  virtual boost::asio::awaitable<Result<Decision>> decide(const std::string& name, const Bucket& bucket) = 0;
};

// Buckets under <key_prefix>rl:<name> on [storage.redis]'s server, through
// the Redis backend's connections (one per event loop, made on first use).
std::shared_ptr<FleetBuckets> make_redis_fleet_buckets(const config::RedisStorageConfig& cfg);

}  // namespace relay::gateway
