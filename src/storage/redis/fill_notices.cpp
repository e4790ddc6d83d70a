// FillNotices (see fill_notices.hpp).
#include "fill_notices.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "relay/util/log.hpp"

namespace relay::storage::redis {

namespace asio = boost::asio;

namespace {
// How soon a lost subscription is noticed; reconnecting itself backs off.
constexpr auto resubscribe_interval = std::chrono::milliseconds(100);
}  // namespace

// A channel of capacity one: notices while the waiter looks at Redis
// collapse into one wake-up.
struct FillNotices::Watch::Waiter {
  explicit Waiter(const asio::any_io_executor& executor) : channel(executor, 1), timer(executor) {}
  asio::experimental::concurrent_channel<void(boost::system::error_code)> channel;
  asio::steady_timer timer;
};

std::shared_ptr<FillNotices> FillNotices::shared(const Options& options, const std::string& channel) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<FillNotices>> registry;
  const auto& ep = options.endpoint;
  const std::string id = ep.host + ":" + std::to_string(ep.port) + "/" + std::to_string(ep.db) + " " + channel;
  std::lock_guard lock(registry_mutex);
  auto& slot = registry[id];
  auto notices = slot.lock();
  if (!notices) slot = notices = std::make_shared<FillNotices>(options, channel);
  return notices;
}

std::unique_ptr<FillNotices::Watch> FillNotices::watch(const std::string& key, const asio::any_io_executor& executor) {
  if (!started_.exchange(true)) asio::co_spawn(executor, keep_subscribed(weak_from_this()), asio::detached);
  auto watch = std::make_unique<Watch>();
  watch->notices_ = shared_from_this();
  watch->key_ = key;
  watch->waiter_ = std::make_shared<Watch::Waiter>(executor);
  std::lock_guard lock(mutex_);
  auto& list = waiters_[key];
  std::erase_if(list, [](const auto& weak) { return weak.expired(); });
  list.push_back(watch->waiter_);
  return watch;
}

FillNotices::Watch::~Watch() {
  std::lock_guard lock(notices_->mutex_);
  auto it = notices_->waiters_.find(key_);
  if (it == notices_->waiters_.end()) return;
  std::erase_if(it->second, [this](const auto& weak) {
    auto waiter = weak.lock();
    return !waiter || waiter == waiter_;
  });
  if (it->second.empty()) notices_->waiters_.erase(it);
}

bool FillNotices::Watch::live() const { return notices_->live_.load(std::memory_order_relaxed); }

asio::awaitable<void> FillNotices::Watch::wait_until(std::chrono::steady_clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  waiter_->timer.expires_at(deadline);
  co_await (waiter_->channel.async_receive(asio::as_tuple(asio::use_awaitable)) ||
            waiter_->timer.async_wait(asio::as_tuple(asio::use_awaitable)));
}

asio::awaitable<void> FillNotices::keep_subscribed(std::weak_ptr<FillNotices> weak) {
  const auto executor = co_await asio::this_coro::executor;
  std::shared_ptr<Connection> subscriber;
  asio::steady_timer timer(executor);
  for (;;) {
    {
      auto self = weak.lock();
      if (!self) co_return;
      if (!subscriber) subscriber = Connection::create(executor, self->options_);
      if (subscriber->closed()) co_return;  // its loop is going away
      if (!subscriber->subscribed()) {
        self->live_ = subscriber->subscribe(self->channel_, [weak](std::string_view key) {
          if (auto notices = weak.lock()) notices->received(key);
        });
      }
    }
    timer.expires_after(resubscribe_interval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void FillNotices::received(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = waiters_.find(std::string(key));
  if (it == waiters_.end()) return;
  for (const auto& weak : it->second)
    if (auto waiter = weak.lock()) waiter->channel.try_send(boost::system::error_code{});
}

}  // namespace relay::storage::redis
