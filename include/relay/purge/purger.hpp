// Carries out purges: the admin API's POST /purge, the PURGE method and
// purges other instances published. A purge asked here reaches every
// storage level (the shared one included) and then the fleet (PurgeBus);
// one heard from the fleet reaches this instance's own levels only. Either
// way, fills of matching keys still running here take no new followers
// and are not stored (RecentPurges), and the metrics count it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "relay/purge/recent_purges.hpp"
#include "relay/storage/purge.hpp"
#include "relay/storage/purge_bus.hpp"
#include "relay/storage/storage.hpp"
#include "relay/util/result.hpp"

namespace relay::metrics {
class Metrics;
}
namespace relay::proxy {
class KeySessions;
}

namespace relay::purge {

class Purger {
 public:
  // `tag_headers`: [purge] tag_headers, to read a running fill's tags.
  Purger(std::shared_ptr<storage::Storage> storage, metrics::Metrics& metrics, proxy::KeySessions& sessions,
         std::vector<std::string> tag_headers);
  ~Purger();

  // Joins the fleet: `bus` (null: no Redis, nothing to tell) publishes this
  // instance's purges and delivers the others' on `loop`.
  void start(std::unique_ptr<storage::PurgeBus> bus, boost::asio::io_context& loop);
  // Leaves it, while the loops still run.
  void stop();

  // Purges here and publishes to the fleet: the entries affected here.
  boost::asio::awaitable<Result<std::uint64_t>> purge(storage::PurgeSelector selector, storage::PurgeMode mode);
  // The same for an invalidation after a successful unsafe request (RFC
  // 9111 §4.4), which the request path does on its own: logged at debug
  // level only, as a busy API may do it for every POST.
  boost::asio::awaitable<Result<std::uint64_t>> invalidate(storage::PurgeSelector selector);

  std::shared_ptr<const RecentPurges> recent() const noexcept { return recent_; }

 private:
  boost::asio::awaitable<Result<std::uint64_t>> carry_out(storage::PurgeRequest request);
  boost::asio::awaitable<Result<std::uint64_t>> purge_and_publish(storage::PurgeRequest request, bool quiet);

  std::shared_ptr<storage::Storage> storage_;
  metrics::Metrics& metrics_;
  proxy::KeySessions& sessions_;
  const std::vector<std::string> tag_headers_;
  std::unique_ptr<storage::PurgeBus> bus_;
  std::shared_ptr<RecentPurges> recent_ = std::make_shared<RecentPurges>();
};

// What both purge entry points answer: {"purged": N, "kind": ..., "mode": ..., "selector": ...}.
std::string answer_json(const storage::PurgeSelector& selector, storage::PurgeMode mode, std::uint64_t entries);

}  // namespace relay::purge
