// The disk store's sweep (storage/maintenance.hpp): what it removes, what it
// must keep (live entries, bodies still shared, a writer's tmp/ file), and
// puts and replacements from another event loop racing it.
#include <fstream>
#include <future>

#include "support.hpp"
#include "relay/storage/maintenance.hpp"

using namespace relay;
using namespace relay::storage;
using namespace relay::storage::test;
namespace fs = std::filesystem;

namespace {

SweepReport must_sweep(Loop& loop, Maintainable& target) {
  auto report = loop.run(target.sweep());
  REQUIRE_MESSAGE(report.has_value(), "sweep failed: " << report.error().message());
  return *report;
}

void touch_file(const fs::path& path, const std::string& bytes, std::chrono::hours age) {
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
  }
  fs::last_write_time(path, fs::file_time_type::clock::now() - age);
}

}  // namespace

TEST_CASE("disk sweep: expired entries go with their unshared bodies, live ones and shared bodies stay") {
  Env env(Kind::disk);
  const auto root = env.disk_root();
  const std::string solo = random_body(40'000, 501), shared = random_body(30'000, 502), live = random_body(20'000, 503);
  must_put(env, "expired-solo", expired_meta("expired-solo", solo.size()), solo);
  must_put(env, "expired-shared", expired_meta("expired-shared", shared.size()), shared);
  must_put(env, "live-shared", text_meta("live-shared", shared.size(), 3600s), shared);
  must_put(env, "live", text_meta("live", live.size(), 3600s), live);
  must_put(env, "unlimited", text_meta("unlimited", live.size()), live);  // keep_for 0: no limit
  REQUIRE(count_files(root / "objects") == 3);
  REQUIRE(count_files(root / "meta") == 5);

  const auto fresh_tmp = root / "tmp" / "b.fresh1";
  const auto old_tmp = root / "tmp" / "b.old123";
  touch_file(fresh_tmp, "a writer is still filling this", std::chrono::hours(0));
  touch_file(old_tmp, std::string(5000, 'x'), std::chrono::hours(2));

  auto report = must_sweep(env.loop(), *maintainable(env));
  CHECK(report.records_removed == 2);
  CHECK(report.bodies_removed == 1);
  CHECK(report.tmp_removed == 1);
  CHECK(report.bytes_freed >= solo.size() + 5000);
  CHECK_MESSAGE(report.bytes_freed < solo.size() + shared.size(), "the shared body was counted as freed");

  CHECK(count_files(root / "meta") == 3);
  CHECK_MESSAGE(count_files(root / "objects") == 2, "the expired entry's own body is still on disk");
  std::error_code ec;
  CHECK_MESSAGE(fs::exists(fresh_tmp, ec), "a live writer's temporary file was removed");
  CHECK_MESSAGE(!fs::exists(old_tmp, ec), "an abandoned temporary file survived the sweep");
  CHECK(env.store().stats().entries == 3);
  CHECK(env.store().stats().expirations == 2);

  for (const auto& [key, body] : {std::pair{"live-shared", &shared}, {"live", &live}, {"unlimited", &live}}) {
    CAPTURE(key);
    auto got = must_fetch(env, key);
    REQUIRE(got.has_value());
    CHECK_BODY(got->body, *body);
  }
  CHECK(is_miss(env, "expired-solo"));
  CHECK(is_miss(env, "expired-shared"));

  // Nothing left to do: a second sweep is a no-op.
  auto again = must_sweep(env.loop(), *maintainable(env));
  CHECK(again.records_removed + again.tmp_removed + again.bytes_freed == 0);

  // And the index agrees with the files after a restart.
  env.reopen();
  CHECK(env.store().stats().entries == 3);
  CHECK(count_files(root / "objects") == 2);
}

TEST_CASE("disk sweep: puts and replacements racing a sweep survive it") {
  Env env(Kind::disk, {}, 2);
  const auto root = env.disk_root();
  constexpr int expired_count = 400, racing = 40;
  const std::string body = text_body(2'000, 511);
  for (int i = 0; i < expired_count; ++i) {
    // Distinct bodies, so the sweep has a body file to unlink per entry.
    auto own = body + numbered("-", i);
    must_put(env, numbered("old-", i), expired_meta("old", own.size()), own);
  }
  REQUIRE(env.store().stats().entries == expired_count);

  auto target = maintainable(env);
  auto sweeping = std::async(std::launch::async, [&] { return env.loop(0).run(target->sweep()); });
  // Meanwhile, from another event loop: new keys, and fresh versions of keys
  // the sweep is about to remove (a fresh commit must win over the sweep).
  auto putting = std::async(std::launch::async, [&] {
    return env.loop(1).run([&]() -> asio::awaitable<Result<void>> {
      for (int i = 0; i < racing; ++i) {
        auto fresh = text_meta("fresh", body.size(), 3600s);
        if (auto r = co_await put_body(env.store(), numbered("new-", i), fresh, body); !r) co_return r;
        auto replacement = text_meta("fresh", body.size(), 3600s);
        if (auto r = co_await put_body(env.store(), numbered("old-", i), replacement, body); !r) co_return r;
      }
      co_return Result<void>{};
    }());
  });
  auto put_result = putting.get();
  REQUIRE_MESSAGE(put_result.has_value(), put_result.error().message());
  auto report = sweeping.get();
  REQUIRE_MESSAGE(report.has_value(), report.error().message());
  CHECK(report->records_removed <= static_cast<std::uint64_t>(expired_count));
  CHECK(report->records_removed >= static_cast<std::uint64_t>(expired_count - racing));

  for (int i = 0; i < racing; ++i) {
    for (const auto& key : {numbered("new-", i), numbered("old-", i)}) {
      CAPTURE(key);
      auto got = must_fetch(env, key);
      REQUIRE_MESSAGE(got.has_value(), "an entry committed during the sweep is gone");
      CHECK(tag_of(got->meta) == "fresh");
      CHECK_BODY(got->body, body);
    }
  }
  CHECK(is_miss(env, numbered("old-", racing)));
  CHECK(is_miss(env, numbered("old-", expired_count - 1)));
  CHECK(env.store().stats().entries == 2 * racing);
  CHECK(count_files(root / "meta") == 2 * racing);
  CHECK(count_files(root / "objects") == 1);  // every fresh entry shares one body
}

