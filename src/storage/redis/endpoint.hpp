// Where relay's Redis connections go: the url of [storage.redis], or with
// Redis Sentinel the current master of master_name. A MasterLocator asks
// the sentinels (SENTINEL get-master-addr-by-name) at start and every half
// second on a thread of its own, one per sentinel group in the process;
// when the master moves (a failover), every Connection using it drops its
// link at its next call and reconnects to the new master. Until a sentinel
// has answered, connections go to url.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "relay/config/config.hpp"

namespace relay::storage::redis {

class MasterLocator {
 public:
  // The process's locator for these sentinels and master name.
  static std::shared_ptr<MasterLocator> shared(const std::vector<std::string>& sentinels, const std::string& name,
                                               std::chrono::milliseconds timeout);
  MasterLocator(std::vector<std::string> sentinels, std::string name, std::chrono::milliseconds timeout);
  ~MasterLocator();
  MasterLocator(const MasterLocator&) = delete;
  MasterLocator& operator=(const MasterLocator&) = delete;

  // `base` (password, db, and the address used until a sentinel answers)
  // with the master's host and port.
  Endpoint master(Endpoint base) const;
  // Bumped each time the master moves.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

 private:
  void run();
  // One round over the sentinels: the first that names the master wins.
  void ask_sentinels();

  const std::vector<std::string> sentinels_;
  const std::string name_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::string host_;  // empty until a sentinel answered
  int port_ = 0;
  std::atomic<std::uint64_t> generation_{0};
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// Where and how patiently to connect, from the [storage.redis] settings.
Options options_for(const config::RedisStorageConfig& cfg);
// The endpoint to use now (for one-off checks on a connection of their own).
Endpoint current_endpoint(const config::RedisStorageConfig& cfg);

}  // namespace relay::storage::redis
