// The fill guard: a fill whose request went to the origin before a matching
// purge is not stored; one that started after it, or that no purge matches,
// is. Remote clocks and a forgotten history err on the side of not storing.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>

#include "relay/purge/recent_purges.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using relay::purge::RecentPurges;
using relay::storage::PurgeRequest;
using relay::storage::PurgeSelector;
using Kind = relay::storage::PurgeSelector::Kind;

namespace {

PurgeRequest purge_at(PurgeSelector selector, relay::purge::SysTime at) {
  PurgeRequest request;
  request.selector = std::move(selector);
  request.at = at;
  return request;
}

}  // namespace

TEST_CASE("purged_since: only purges at or after the fill's start that match it") {
  const auto now = std::chrono::system_clock::now();
  RecentPurges recent;
  recent.record(purge_at({Kind::url, "http://h/a"}, now));
  recent.record(purge_at({Kind::tag, "t"}, now + 5s));
  CHECK(recent.purged_since("http://h/a", {}, now - 1s));
  CHECK(recent.purged_since("http://h/a|x-device=m", {}, now));
  CHECK_FALSE(recent.purged_since("http://h/a", {}, now + 1s));  // started after the URL purge
  CHECK_FALSE(recent.purged_since("http://h/b", {}, now - 1s));
  const std::vector<std::string> tags = {"t"};
  CHECK(recent.purged_since("http://h/b", tags, now + 2s));
}

TEST_CASE("a fill older than the remembered history is refused") {
  const auto now = std::chrono::system_clock::now();
  RecentPurges recent;
  for (std::size_t i = 0; i <= RecentPurges::kKeep; ++i)
    recent.record(purge_at({Kind::url, "http://h/other"}, now + std::chrono::milliseconds(i)));
  // The first purge was forgotten: a fill from before it cannot know it was not matched.
  CHECK(recent.purged_since("http://h/a", {}, now - 1s));
  CHECK_FALSE(recent.purged_since("http://h/a", {}, now + 1h));
}

TEST_CASE("guard_fill: a purged fill publishes nothing, another commits") {
  boost::asio::io_context io;
  const auto now = std::chrono::system_clock::now();
  auto recent = std::make_shared<RecentPurges>();
  auto inner_purged = std::make_unique<relay::test::RecordingWriter>();
  auto* purged_writer = inner_purged.get();
  auto guarded = relay::purge::guard_fill(std::move(inner_purged), recent, "http://h/a", {}, now - 1s);
  auto inner_kept = std::make_unique<relay::test::RecordingWriter>();
  auto* kept_writer = inner_kept.get();
  auto kept = relay::purge::guard_fill(std::move(inner_kept), recent, "http://h/b", {}, now - 1s);
  recent->record(purge_at({Kind::prefix, "http://h/a"}, now));

  CHECK(relay::test::run(io, kept->commit()));
  CHECK(kept_writer->committed);
  const std::string chunk = "body";
  CHECK(relay::test::run(io, guarded->write(chunk)));
  CHECK(purged_writer->bytes == "body");
  CHECK_FALSE(relay::test::run(io, guarded->commit()));
}
