// relay_storage_operations_total{backend,op,result}, relay_storage_operation_seconds{backend,op}
// and relay_storage_errors_total{backend,reason} (unavailable, too_large,
// integrity: a body read that failed its hash check, other). Body reads and
// writes are counted per failure, not per chunk, to keep the hot path cheap.
#include "relay/metrics/instrumented_storage.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>

#include "relay/metrics/metrics.hpp"
#include "relay/metrics/sharded_histogram.hpp"
#include "relay/util/block_pool.hpp"

namespace relay::metrics {

namespace {

using steady = std::chrono::steady_clock;
namespace asio = boost::asio;

enum Op { op_get, op_put, op_update, op_remove, op_read, op_write, op_commit, op_count };
constexpr const char* op_names[op_count] = {"get", "put", "update_meta", "remove", "read", "write", "commit"};

struct Instruments {
  std::array<prometheus::Counter*, op_count> ok{};
  std::array<prometheus::Counter*, op_count> failed{};
  prometheus::Counter* miss = nullptr;
  std::array<ShardedHistogram*, 4> seconds{};  // get, put, update_meta, remove
  prometheus::Counter* unavailable = nullptr;
  prometheus::Counter* too_large = nullptr;
  prometheus::Counter* integrity = nullptr;
  prometheus::Counter* other = nullptr;

  void failure(Op op, const error_code& e) {
    failed[op]->Increment();
    if (e == Errc::storage_unavailable) {
      unavailable->Increment();
    } else if (e == Errc::object_too_large) {
      too_large->Increment();
    } else if (e == Errc::storage_corrupt) {
      integrity->Increment();
    } else {
      other->Increment();
    }
  }
};

class Timer {
 public:
  Timer(Instruments& m, Op op) : m_(m), op_(op), start_(steady::now()) {}
  ~Timer() { m_.seconds[op_]->observe(std::chrono::duration<double>(steady::now() - start_).count()); }

 private:
  Instruments& m_;
  Op op_;
  steady::time_point start_;
};

class CountingReader final : public storage::BodyReader, public util::PooledAllocation {
 public:
  CountingReader(std::unique_ptr<storage::BodyReader> inner, Instruments& m) : inner_(std::move(inner)), m_(m) {}
  asio::awaitable<Result<std::span<const char>>> read() override {
    auto r = co_await inner_->read();
    if (!r) m_.failure(op_read, r.error());
    co_return r;
  }
  std::uint64_t start_at(std::uint64_t offset) override { return inner_->start_at(offset); }
  std::optional<http::FileRegion> file() const noexcept override { return inner_->file(); }

 private:
  std::unique_ptr<storage::BodyReader> inner_;
  Instruments& m_;
};

class CountingWriter final : public storage::BodyWriter {
 public:
  CountingWriter(std::unique_ptr<storage::BodyWriter> inner, Instruments& m) : inner_(std::move(inner)), m_(m) {}
  asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    auto r = co_await inner_->write(chunk);
    if (!r) m_.failure(op_write, r.error());
    co_return r;
  }
  asio::awaitable<Result<void>> commit() override {
    auto r = co_await inner_->commit();
    if (r) {
      m_.ok[op_commit]->Increment();
    } else {
      m_.failure(op_commit, r.error());
    }
    co_return r;
  }
  int body_fd() const noexcept override { return inner_->body_fd(); }

 private:
  std::unique_ptr<storage::BodyWriter> inner_;
  Instruments& m_;
};

class InstrumentedStorage final : public storage::Storage {
 public:
  InstrumentedStorage(std::shared_ptr<storage::Storage> inner, Metrics& metrics) : inner_(std::move(inner)) {
    auto& registry = metrics.registry();
    std::string backend(inner_->backend_name());
    auto& ops = prometheus::BuildCounter()
                    .Name("relay_storage_operations_total")
                    .Help("Storage operations by backend, operation and result")
                    .Register(registry);
    for (int op = 0; op < op_count; ++op) {
      m_.ok[op] = &ops.Add({{"backend", backend}, {"op", op_names[op]}, {"result", "ok"}});
      m_.failed[op] = &ops.Add({{"backend", backend}, {"op", op_names[op]}, {"result", "error"}});
    }
    m_.miss = &ops.Add({{"backend", backend}, {"op", "get"}, {"result", "miss"}});
    auto& seconds = metrics.sharded_histogram_family("relay_storage_operation_seconds",
                                                     "Storage operation latency (body streaming excluded)");
    const std::vector<double> buckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                          0.005,   0.01,   0.025,   0.05,   0.1,   0.5};
    for (int op = 0; op < 4; ++op) m_.seconds[op] = &seconds.add({{"backend", backend}, {"op", op_names[op]}}, buckets);
    auto& errors = prometheus::BuildCounter()
                       .Name("relay_storage_errors_total")
                       .Help("Storage failures, each passed through to the origin")
                       .Register(registry);
    m_.unavailable = &errors.Add({{"backend", backend}, {"reason", "unavailable"}});
    m_.too_large = &errors.Add({{"backend", backend}, {"reason", "too_large"}});
    m_.integrity = &errors.Add({{"backend", backend}, {"reason", "integrity"}});
    m_.other = &errors.Add({{"backend", backend}, {"reason", "other"}});
  }

  asio::awaitable<Result<std::optional<storage::Hit>>> get(const storage::CacheKey& key) override {
    Timer t(m_, op_get);
    auto r = co_await inner_->get(key);
    if (!r) {
      m_.failure(op_get, r.error());
    } else if (!r->has_value()) {
      m_.miss->Increment();
    } else {
      m_.ok[op_get]->Increment();
      (*r)->body = std::make_unique<CountingReader>(std::move((*r)->body), m_);
    }
    co_return r;
  }

  asio::awaitable<Result<std::unique_ptr<storage::BodyWriter>>> put(const storage::CacheKey& key,
                                                                    storage::EntryMeta meta) override {
    Timer t(m_, op_put);
    auto r = co_await inner_->put(key, std::move(meta));
    if (!r) {
      m_.failure(op_put, r.error());
      co_return r;
    }
    m_.ok[op_put]->Increment();
    co_return std::unique_ptr<storage::BodyWriter>(std::make_unique<CountingWriter>(std::move(*r), m_));
  }

  asio::awaitable<Result<void>> update_meta(const storage::CacheKey& key, storage::EntryMeta meta) override {
    Timer t(m_, op_update);
    auto r = co_await inner_->update_meta(key, std::move(meta));
    if (r) {
      m_.ok[op_update]->Increment();
    } else {
      m_.failure(op_update, r.error());
    }
    co_return r;
  }

  asio::awaitable<Result<bool>> remove(const storage::CacheKey& key) override {
    Timer t(m_, op_remove);
    auto r = co_await inner_->remove(key);
    if (r) {
      m_.ok[op_remove]->Increment();
    } else {
      m_.failure(op_remove, r.error());
    }
    co_return r;
  }

  // Not an operation of the request path: the admin side counts purges.
  asio::awaitable<Result<std::uint64_t>> purge(const storage::PurgeRequest& request) override {
    co_return co_await inner_->purge(request);
  }

  // Uncounted as an operation (it is a waiter's poll, not a lookup), but
  // the bytes it reads count like any other read.
  asio::awaitable<Result<std::optional<storage::Hit>>> get_in_progress(const storage::CacheKey& key) override {
    auto r = co_await inner_->get_in_progress(key);
    if (r && r->has_value()) (*r)->body = std::make_unique<CountingReader>(std::move((*r)->body), m_);
    co_return r;
  }

  storage::Stats stats() const override { return inner_->stats(); }
  std::string_view backend_name() const noexcept override { return inner_->backend_name(); }

 private:
  std::shared_ptr<storage::Storage> inner_;
  Instruments m_;
};

}  // namespace

std::shared_ptr<storage::Storage> instrument(std::shared_ptr<storage::Storage> inner, Metrics& metrics) {
  return std::make_shared<InstrumentedStorage>(std::move(inner), metrics);
}

}  // namespace relay::metrics
