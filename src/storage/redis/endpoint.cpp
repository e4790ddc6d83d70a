// MasterLocator and the [storage.redis] endpoint (see endpoint.hpp).
#include "endpoint.hpp"

#include <hiredis/hiredis.h>

#include <map>

#include "relay/util/log.hpp"

namespace relay::storage::redis {

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(500);

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

// host:port of one sentinel (validated at load).
std::pair<std::string, int> split(const std::string& address) {
  const auto colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, std::stoi(address.substr(colon + 1))};
}

}  // namespace

std::shared_ptr<MasterLocator> MasterLocator::shared(const std::vector<std::string>& sentinels,
                                                     const std::string& name, std::chrono::milliseconds timeout) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<MasterLocator>> registry;
  std::string id = name;
  for (const auto& s : sentinels) id.append(1, ' ').append(s);
  std::lock_guard lock(registry_mutex);
  auto& slot = registry[id];
  auto locator = slot.lock();
  if (!locator) slot = locator = std::make_shared<MasterLocator>(sentinels, name, timeout);
  return locator;
}

MasterLocator::MasterLocator(std::vector<std::string> sentinels, std::string name, std::chrono::milliseconds timeout)
    : sentinels_(std::move(sentinels)), name_(std::move(name)), timeout_(timeout) {
  ask_sentinels();  // so the first connections already go to the master
  thread_ = std::thread([this] { run(); });
}

MasterLocator::~MasterLocator() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Endpoint MasterLocator::master(Endpoint base) const {
  std::lock_guard lock(mutex_);
  if (!host_.empty()) {
    base.host = host_;
    base.port = port_;
  }
  return base;
}

void MasterLocator::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, poll_interval, [this] { return stop_; })) {
    lock.unlock();
    ask_sentinels();
    lock.lock();
  }
}

void MasterLocator::ask_sentinels() {
  const auto timeout = to_timeval(timeout_);
  for (const auto& sentinel : sentinels_) {
    auto [host, port] = split(sentinel);
    std::unique_ptr<redisContext, decltype(&redisFree)> c(redisConnectWithTimeout(host.c_str(), port, timeout),
                                                         &redisFree);
    if (!c || c->err) continue;
    redisSetTimeout(c.get(), timeout);
    const char* argv[] = {"SENTINEL", "get-master-addr-by-name", name_.c_str()};
    const std::size_t lengths[] = {8, 23, name_.size()};
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(
        static_cast<redisReply*>(redisCommandArgv(c.get(), 3, argv, lengths)), &freeReplyObject);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING)
      continue;
    std::string master_host(reply->element[0]->str, reply->element[0]->len);
    const int master_port = std::atoi(reply->element[1]->str);
    std::lock_guard lock(mutex_);
    if (master_host == host_ && master_port == port_) return;
    const bool moved = !host_.empty();
    host_ = std::move(master_host);
    port_ = master_port;
    generation_.fetch_add(1, std::memory_order_acq_rel);
    log::info("redis sentinel ", sentinel, ": master ", name_, (moved ? " moved to " : " is at "), host_, ":",
              port_);
    return;
  }
}

Options options_for(const config::RedisStorageConfig& cfg) {
  const auto& url = cfg.url;
  Options options{{url.host, url.port, url.password, url.db}, cfg.connect_timeout, cfg.command_timeout, nullptr};
  if (!cfg.sentinels.empty())
    options.locator = MasterLocator::shared(cfg.sentinels, cfg.master_name, cfg.connect_timeout);
  return options;
}

Endpoint current_endpoint(const config::RedisStorageConfig& cfg) {
  auto options = options_for(cfg);
  return options.locator ? options.locator->master(options.endpoint) : options.endpoint;
}

}  // namespace relay::storage::redis
