// A backend's sweep (storage/maintenance.hpp) as a scheduled task.
#include "relay/maintenance/scheduler.hpp"
#include "relay/util/log.hpp"

namespace relay::maintenance {

namespace asio = boost::asio;

Task sweep_task(std::shared_ptr<storage::Maintainable> target) {
  Task task{target->maintenance_task(), target->maintenance_scope(), {}};
  task.run = [target = std::move(target), name = task.name,
              scope = task.scope]() -> asio::awaitable<Result<std::uint64_t>> {
    auto report = co_await target->sweep();
    if (!report) co_return report.error();
    auto removed = report->records_removed + report->tmp_removed;
    if (removed != 0)
      log::info("maintenance: ", name, " ", scope, ": removed ", report->records_removed, " expired entries (",
                report->bodies_removed, " bodies) and ", report->tmp_removed, " abandoned temporary files, ",
                report->bytes_freed, " bytes freed");
    co_return removed;
  };
  return task;
}

}  // namespace relay::maintenance
