#include "relay/purge/purger.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "relay/metrics/metrics.hpp"
#include "relay/proxy/key_session.hpp"
#include "relay/purge/tags.hpp"
#include "relay/util/json.hpp"
#include "relay/util/log.hpp"

namespace relay::purge {

namespace asio = boost::asio;

Purger::Purger(std::shared_ptr<storage::Storage> storage, metrics::Metrics& metrics, proxy::KeySessions& sessions,
               std::vector<std::string> tag_headers)
    : storage_(std::move(storage)), metrics_(metrics), sessions_(sessions), tag_headers_(std::move(tag_headers)) {}

Purger::~Purger() { stop(); }

void Purger::start(std::unique_ptr<storage::PurgeBus> bus, asio::io_context& loop) {
  bus_ = std::move(bus);
  if (!bus_) return;
  bus_->start([this, &loop](storage::PurgeRequest request) {
    log::info("purge from another instance: ", to_string(request.selector.kind), " ", request.selector.value, " (",
              to_string(request.mode), ")");
    asio::co_spawn(loop, carry_out(std::move(request)), asio::detached);
  });
}

void Purger::stop() {
  if (bus_) bus_->stop();
}

// The requests are named before the co_await: GCC 12 may destroy a
// temporary in a co_await expression twice.
asio::awaitable<Result<std::uint64_t>> Purger::purge(storage::PurgeSelector selector, storage::PurgeMode mode) {
  storage::PurgeRequest request{std::move(selector), mode, storage::PurgeScope::everywhere,
                                std::chrono::system_clock::now()};
  co_return co_await purge_and_publish(std::move(request), false);
}

asio::awaitable<Result<std::uint64_t>> Purger::invalidate(storage::PurgeSelector selector) {
  storage::PurgeRequest request{std::move(selector), storage::PurgeMode::hard, storage::PurgeScope::everywhere,
                                std::chrono::system_clock::now()};
  co_return co_await purge_and_publish(std::move(request), true);
}

asio::awaitable<Result<std::uint64_t>> Purger::purge_and_publish(storage::PurgeRequest request, bool quiet) {
  auto affected = co_await carry_out(request);
  // The other instances drop their own copies even when the shared level
  // failed here: their memory tiers must not outlive the purge either.
  if (bus_) bus_->publish(request);
  if (affected && !quiet) {
    log::info("purged ", to_string(request.selector.kind), " ", request.selector.value, " (",
              to_string(request.mode), "): ", *affected, " entries");
  } else if (affected) {
    log::debug("invalidated ", request.selector.value, ": ", *affected, " entries");
  }
  co_return affected;
}

asio::awaitable<Result<std::uint64_t>> Purger::carry_out(storage::PurgeRequest request) {
  // Fills first: from now on nothing fetched before the purge is stored or followed.
  recent_->record(request);
  sessions_.detach_fills([this, &request](const std::string& fill_key, const http::ResponseHead* head) {
    // Fills are keyed by storage key: the URL's key, then its Vary variant.
    const auto primary = std::string_view(fill_key).substr(0, fill_key.find('\x1f'));
    if (request.selector.kind != storage::PurgeSelector::Kind::tag) return request.selector.matches(primary, {});
    // A fill's tags are known once its head is in; before that, any fill may carry the tag.
    return !head || request.selector.matches(primary, response_tags(head->headers, tag_headers_));
  });
  auto affected = co_await storage_->purge(request);
  if (!affected) {
    log::warn("purge of ", to_string(request.selector.kind), " ", request.selector.value, " failed: ",
              affected.error().message());
    co_return affected;
  }
  metrics_.record_purge(to_string(request.selector.kind), to_string(request.mode), *affected);
  co_return affected;
}

std::string answer_json(const storage::PurgeSelector& selector, storage::PurgeMode mode, std::uint64_t entries) {
  return json::Object()
      .add("purged", static_cast<std::int64_t>(entries))
      .add("kind", to_string(selector.kind))
      .add("mode", to_string(mode))
      .add("selector", selector.value)
      .str();
}

}  // namespace relay::purge
