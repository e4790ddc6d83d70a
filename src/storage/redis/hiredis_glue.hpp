// Private to redis/: the few hiredis helpers the connection's files share,
// the reply copy and the argv queueing, and the slot that carries a reply
// back to its batch. Only connection code includes hiredis headers.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <cstddef>
#include <memory>

#include "connection.hpp"

namespace relay::storage::redis {

// A deep copy: hiredis frees its reply once the callback returns.
Reply copy_reply(const redisReply& r);

// One per hiredis callback registration; hiredis calls each exactly once
// (with NULL when the context goes away), which frees it.
struct Slot {
  std::shared_ptr<Batch> batch;
  std::size_t index;
};

// Queues one command (binary-safe argv) on the context; REDIS_OK or REDIS_ERR.
int queue(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata, const Command& command);

}  // namespace relay::storage::redis
