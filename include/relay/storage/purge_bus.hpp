// Fleet-wide purges. Instances sharing a Redis publish every purge they
// carry out on one pub/sub channel ("<key_prefix>purge"); every other
// instance hears it and drops what is its alone: its memory tier and its
// in-flight fills of the matching keys. The shared level itself was purged
// by the publisher. A message carries the sender's instance id, so an
// instance ignores its own purges.
//
// Invariant: losing Redis never fails a purge: publish() logs and counts a
// failure, the subscriber reconnects on its own.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "relay/config/config.hpp"
#include "relay/storage/purge.hpp"

namespace relay::storage {

class PurgeBus {
 public:
  virtual ~PurgeBus() = default;
  // From any thread; returns at once (the message is sent on the bus's loop).
  virtual void publish(const PurgeRequest& request) = 0;
  // Subscribes (and resubscribes after a lost connection); `deliver` runs on
  // the bus's loop for each purge another instance published, with
  // scope = this_instance.
  virtual void start(std::function<void(PurgeRequest)> deliver) = 0;
  // From any thread: unsubscribe and close; no delivery after it returns.
  virtual void stop() = 0;
};

// The Redis-backed bus, on `loop`.
std::unique_ptr<PurgeBus> make_redis_purge_bus(const config::RedisStorageConfig& cfg, boost::asio::io_context& loop);

}  // namespace relay::storage
