// Notices between the instances of a fleet about a key's fill, so that a
// waiting instance is woken instead of polling Redis every few
// milliseconds: the filling instance PUBLISHes the key on
// "<key_prefix>fill" when it sends body bytes, commits, gives up or
// releases the key's lock. Each process holds one subscription to the
// channel (on the loop of the first waiter), shared by every waiter on
// every thread. Pub/sub keeps nothing, so waiters still look at Redis
// every `fallback` while subscribed, and poll as before while not.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "connection.hpp"
#include "relay/storage/distributed_lock.hpp"

namespace relay::storage::redis {

class FillNotices : public std::enable_shared_from_this<FillNotices> {
 public:
  // How long a subscribed waiter waits for a notice before it looks anyway.
  static constexpr std::chrono::milliseconds fallback{500};

  // The process's notices for this Redis and channel.
  static std::shared_ptr<FillNotices> shared(const Options& options, const std::string& channel);
  FillNotices(Options options, std::string channel) : options_(std::move(options)), channel_(std::move(channel)) {}

  // A waiter's registration for one key, from before it first looks at
  // Redis, so no notice between that look and its wait is lost.
  class Watch final : public DistributedLock::ChangeWatch {
   public:
    boost::asio::awaitable<void> wait_until(std::chrono::steady_clock::time_point deadline) override;
    // Notices are flowing: a waiter may wait up to `fallback` between looks.
    bool live() const override;
    ~Watch() override;

   private:
    friend class FillNotices;
    struct Waiter;
    std::shared_ptr<FillNotices> notices_;
    std::string key_;
    std::shared_ptr<Waiter> waiter_;
  };
  std::unique_ptr<Watch> watch(const std::string& key, const boost::asio::any_io_executor& executor);

  // The PUBLISH telling waiters that `key` changed.
  Command notice(const std::string& key) const { return {"PUBLISH", channel_, key}; }
  const std::string& channel() const noexcept { return channel_; }

 private:
  // The subscription, on the first waiter's loop: its connection and
  // timer live in the coroutine's frame, which goes with that loop.
  static boost::asio::awaitable<void> keep_subscribed(std::weak_ptr<FillNotices> weak);
  void received(std::string_view key);

  const Options options_;
  const std::string channel_;
  std::atomic<bool> started_{false};
  std::atomic<bool> live_{false};

  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::weak_ptr<Watch::Waiter>>> waiters_;
};

}  // namespace relay::storage::redis
