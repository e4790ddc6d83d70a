#include "relay/purge/recent_purges.hpp"

#include <algorithm>

#include "relay/util/log.hpp"

namespace relay::purge {

namespace asio = boost::asio;

void RecentPurges::record(const storage::PurgeRequest& request) {
  std::lock_guard lock(mutex_);
  entries_.push_back({request.selector, request.at});
  const auto horizon = std::chrono::system_clock::now() - kKeepFor;
  while (!entries_.empty() && (entries_.size() > kKeep || entries_.front().at < horizon)) {
    forgotten_until_ = std::max(forgotten_until_, entries_.front().at);
    entries_.pop_front();
  }
}

bool RecentPurges::purged_since(std::string_view primary, std::span<const std::string> tags, SysTime since) const {
  std::lock_guard lock(mutex_);
  if (since <= forgotten_until_) return true;  // a purge it may have missed is no longer known
  // Newest first: only the entries at or after `since` can matter.
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->at < since) continue;  // remote clocks may record slightly out of order
    if (it->selector.matches(primary, tags)) return true;
  }
  return false;
}

namespace {

class GuardedWriter final : public storage::BodyWriter {
 public:
  GuardedWriter(std::unique_ptr<storage::BodyWriter> inner, std::shared_ptr<const RecentPurges> recent,
                std::string primary, std::vector<std::string> tags, SysTime request_time)
      : inner_(std::move(inner)),
        recent_(std::move(recent)),
        primary_(std::move(primary)),
        tags_(std::move(tags)),
        request_time_(request_time) {}

  asio::awaitable<Result<void>> write(std::span<const char> chunk) override { co_return co_await inner_->write(chunk); }

  asio::awaitable<Result<void>> commit() override {
    if (recent_->purged_since(primary_, tags_, request_time_)) {
      log::info("not storing ", primary_, ": purged while it was being fetched");
      inner_.reset();  // dropped uncommitted: leaves no trace
      co_return Result<void>(make_error_code(Errc::storage_unavailable));
    }
    co_return co_await inner_->commit();
  }

  int body_fd() const noexcept override { return inner_ ? inner_->body_fd() : -1; }

 private:
  std::unique_ptr<storage::BodyWriter> inner_;
  std::shared_ptr<const RecentPurges> recent_;
  std::string primary_;
  std::vector<std::string> tags_;
  SysTime request_time_;
};

}  // namespace

std::unique_ptr<storage::BodyWriter> guard_fill(std::unique_ptr<storage::BodyWriter> writer,
                                                std::shared_ptr<const RecentPurges> recent, std::string primary,
                                                std::vector<std::string> tags, SysTime request_time) {
  return std::make_unique<GuardedWriter>(std::move(writer), std::move(recent), std::move(primary), std::move(tags),
                                         request_time);
}

}  // namespace relay::purge
