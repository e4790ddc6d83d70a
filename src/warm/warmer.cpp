// Warmer (warmer.hpp): the sources' schedules, their runs and each warm
// request. Everything runs on the host loop; a source's state is shared by
// its run loop and its requests in flight (whichever ends last frees it).
#include "relay/warm/warmer.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "relay/util/async_event.hpp"
#include "relay/util/log.hpp"
#include "relay/util/result.hpp"

namespace relay::warm {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

// A sitemap file may hold 50 MB uncompressed (sitemaps.org); a list file is ours.
constexpr std::size_t kMaxDocument = 50ull * 1024 * 1024;
constexpr std::size_t kMaxSitemaps = 1000;  // of one index
constexpr auto kProgressEvery = std::chrono::seconds(30);
constexpr std::size_t kFailuresLogged = 5;  // per run; the summary counts them all

class NoBody final : public http::BodySource {
 public:
  asio::awaitable<Result<std::span<const char>>> read() override { co_return std::span<const char>{}; }
};

// What relay's request path answers a warm request: the head's facts, the
// body dropped or kept up to a limit (past it, the sink is a client gone).
class AnswerSink final : public http::ResponseSink {
 public:
  explicit AnswerSink(std::size_t keep) : keep_(keep) {}

  asio::awaitable<void> interim(const http::ResponseHead&) override { co_return; }
  asio::awaitable<Result<void>> write_head(http::ResponseHead head, std::optional<std::uint64_t>) override {
    note(head.status, head.headers);
    co_return Result<void>{};
  }
  asio::awaitable<Result<void>> write_body(std::span<const char> chunk) override {
    bytes_ += chunk.size();
    if (keep_ == 0) co_return Result<void>{};
    if (body.size() + chunk.size() > keep_) {
      too_large = true;
      co_return make_error_code(Errc::object_too_large);
    }
    body.append(chunk.data(), chunk.size());
    co_return Result<void>{};
  }
  asio::awaitable<Result<void>> finish() override {
    finished = true;
    co_return Result<void>{};
  }
  void abort() noexcept override { aborted = true; }
  asio::awaitable<Result<void>> write_simple(int status, std::string_view, std::string_view text,
                                             http::Headers extra) override {
    note(status, extra);
    bytes_ = text.size();
    finished = true;
    co_return Result<void>{};
  }
  asio::awaitable<Result<http::ByteStream*>> switch_protocols(http::ResponseHead) override {
    co_return make_error_code(Errc::bad_request);
  }
  bool can_switch_protocols() const noexcept override { return false; }
  bool head_sent() const noexcept override { return status_ != 0; }
  int status() const noexcept override { return status_; }
  std::uint64_t body_bytes() const noexcept override { return bytes_; }

  std::string x_cache, cache_status, body;
  bool finished = false, aborted = false, too_large = false;

 private:
  void note(int status, const http::Headers& headers) {
    status_ = status;
    x_cache = std::string(headers.get("x-cache").value_or(""));
    cache_status = headers.get_combined("cache-status").value_or("");
  }
  std::size_t keep_;
  int status_ = 0;
  std::uint64_t bytes_ = 0;
};

std::string seconds_text(steady::duration d) {
  const auto tenths = std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

struct Warmer::Source {
  Source(const asio::any_io_executor& ex, config::WarmSource c) : cfg(std::move(c)), wake(ex) {}

  config::WarmSource cfg;
  AsyncEvent wake;           // a request ended, or the source was stopped
  bool stopped = false;
  int in_flight = 0;
  // This run's results, for its summary.
  std::size_t hit = 0, filled = 0, not_stored = 0, failed = 0;

  void stop() {
    stopped = true;
    wake.notify();
  }
  // Waits until `deadline` or a wake-up, whichever is first; at once when
  // stopped (every wait loop checks `stopped` too, so none spins).
  asio::awaitable<void> nap(steady::time_point deadline) {
    if (!stopped && steady::now() < deadline) co_await wake.wait_until(deadline);
  }
  std::string_view name() const { return cfg.name; }
  std::size_t done() const { return hit + filled + not_stored + failed; }
};

Warmer::Warmer(asio::io_context& io, http::Service& service, metrics::Metrics& metrics)
    : io_(io), service_(service), metrics_(metrics) {
  tasks_.on_empty = [this] {
    if (on_idle) on_idle();
  };
}

void Warmer::apply(const config::Config& config) {
  if (cancelled_ || config.warm == configured_) return;
  for (auto& source : running_) source->stop();
  running_.clear();
  configured_ = config.warm;
  if (configured_.empty()) return;
  for (const auto& cfg : configured_) {
    auto source = std::make_shared<Source>(io_.get_executor(), cfg);
    running_.push_back(source);
    tasks_.spawn(io_.get_executor(), run_source(source), [name = cfg.name, this](std::exception_ptr failure) {
      if (!failure || tasks_.cancelled()) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        log::error("warm \"", name, "\": stopped: ", e.what());
      }
    });
  }
}

void Warmer::cancel() {
  cancelled_ = true;
  for (auto& source : running_) source->stop();
  running_.clear();
  tasks_.cancel();
}

asio::awaitable<void> Warmer::run_source(std::shared_ptr<Source> source) {
  while (!source->stopped) {
    const auto started = steady::now();
    co_await run_once(source);
    if (source->cfg.every.count() == 0) co_return;
    const auto next = started + source->cfg.every;
    while (!source->stopped && steady::now() < next) co_await source->nap(next);
  }
}

asio::awaitable<void> Warmer::run_once(std::shared_ptr<Source> source) {
  const auto started = steady::now();
  std::string error;
  auto targets = co_await collect(*source, error);
  if (source->stopped) co_return;
  if (!error.empty()) {
    log::error("warm \"", source->name(), "\": no URLs this run: ", error);
    metrics_.record_warm_run(source->name(), false, 0);
    co_return;
  }
  const auto& cfg = source->cfg;
  const std::size_t variants = std::max<std::size_t>(1, cfg.variants.size());
  const std::size_t total = targets.size() * variants;
  log::info("warm \"", source->name(), "\": ", targets.size(), " URLs", variants > 1 ? " x " + std::to_string(variants) + " variants" : "",
            ", at most ", cfg.rate, "/s and ", cfg.concurrency, " at once: run started");
  source->hit = source->filled = source->not_stored = source->failed = 0;
  const auto interval = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(1.0 / cfg.rate));
  auto next_start = steady::now();
  auto next_progress = started + kProgressEvery;
  for (std::size_t i = 0; i < total && !source->stopped; ++i) {
    while (!source->stopped && steady::now() < next_start) co_await source->nap(next_start);
    while (!source->stopped && source->in_flight >= cfg.concurrency) co_await source->nap(steady::now() + std::chrono::seconds(1));
    if (source->stopped) break;
    // Paced from when this one starts: time spent waiting for a free slot
    // never earns the next ones a burst.
    next_start = std::max(next_start, steady::now()) + interval;
    ++source->in_flight;
    tasks_.spawn(io_.get_executor(), warm_one(source, targets[i / variants], i % variants),
                 [source](std::exception_ptr) {
                   --source->in_flight;
                   source->wake.notify();
                 });
    if (steady::now() >= next_progress) {
      next_progress = steady::now() + kProgressEvery;
      log::info("warm \"", source->name(), "\": ", source->done(), " of ", total, " requests done");
    }
  }
  // A stopped source leaves its requests in flight to end on their own.
  while (!source->stopped && source->in_flight > 0) co_await source->nap(steady::now() + std::chrono::seconds(1));
  if (source->stopped) co_return;
  log::info("warm \"", source->name(), "\": run complete in ", seconds_text(steady::now() - started), ": ", total,
            " requests, ", source->filled, " filled, ", source->hit, " already cached, ", source->not_stored,
            " not stored, ", source->failed, " failed");
  metrics_.record_warm_run(source->name(), true, targets.size());
}

asio::awaitable<std::vector<WarmTarget>> Warmer::collect(Source& source, std::string& error) {
  const auto& cfg = source.cfg;
  if (!cfg.sitemap.empty()) co_return co_await collect_sitemap(source, error);
  // Read at every run, so an edited list needs no reload. Small and local:
  // read on the loop like the configuration file.
  std::ifstream in(cfg.urls, std::ios::binary);
  std::string text;
  if (in) {
    try {
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::exception&) {
      in.setstate(std::ios::badbit);
    }
  }
  if (!in || in.bad()) {
    error = "cannot read " + cfg.urls + ": " + std::strerror(errno);
    co_return std::vector<WarmTarget>{};
  }
  auto list = parse_url_list(text, cfg.host, static_cast<std::size_t>(cfg.max_urls));
  for (const auto& why : list.rejected) log::warn("warm \"", source.name(), "\": ", cfg.urls, " ", why);
  if (list.truncated)
    log::warn("warm \"", source.name(), "\": ", cfg.urls, " holds more than max_urls (", cfg.max_urls,
              ") URLs: the rest are left out");
  co_return std::move(list.targets);
}

asio::awaitable<std::vector<WarmTarget>> Warmer::collect_sitemap(Source& source, std::string& error) {
  const auto& cfg = source.cfg;
  const auto max_urls = static_cast<std::size_t>(cfg.max_urls);
  std::vector<WarmTarget> pages;
  std::vector<std::string> pending{cfg.sitemap};
  bool top = true;
  std::size_t fetched = 0;
  bool truncated = false;
  while (!pending.empty() && !source.stopped) {
    const auto url = std::move(pending.front());
    pending.erase(pending.begin());
    WarmTarget where;
    if (!parse_target(url, "", where)) {
      log::warn("warm \"", source.name(), "\": skipping sitemap ", url, ": not an http(s) URL");
      continue;
    }
    // Revalidated at every run, so new pages are seen (unless the route
    // ignores client no-cache, where the sitemap's own freshness rules).
    const std::vector<std::pair<std::string, std::string>> revalidate{{"Cache-Control", "no-cache"}};
    auto answer = co_await get(where, revalidate, kMaxDocument);
    ++fetched;
    std::string problem;
    if (answer.status != 200)
      problem = answer.status == 0 ? "no response" : "status " + std::to_string(answer.status);
    else if (!answer.complete)
      problem = answer.body.size() >= kMaxDocument ? "larger than 50 MB" : "the body was cut short";
    else if (answer.body.size() >= 2 && answer.body[0] == '\x1f' && answer.body[1] == '\x8b')
      problem = "gzip-compressed sitemaps are not read: list the uncompressed file";
    if (!problem.empty()) {
      if (top) {
        error = "sitemap " + url + ": " + problem;
        co_return pages;
      }
      log::warn("warm \"", source.name(), "\": skipping sitemap ", url, ": ", problem);
      continue;
    }
    auto map = parse_sitemap(answer.body);
    if (top && map.locs.empty()) {
      error = "sitemap " + url + " lists no URLs (is it a sitemap? <urlset> or <sitemapindex> with <loc>s)";
      co_return pages;
    }
    if (map.index && top) {
      // One level, as the protocol has it: an index lists sitemaps only.
      for (auto& loc : map.locs) {
        if (pending.size() >= kMaxSitemaps) {
          log::warn("warm \"", source.name(), "\": ", url, " lists more than ", kMaxSitemaps, " sitemaps: the rest are left out");
          break;
        }
        pending.push_back(std::move(loc));
      }
    } else if (map.index) {
      log::warn("warm \"", source.name(), "\": skipping ", url, ": a sitemap index inside a sitemap index");
    } else {
      for (const auto& loc : map.locs) {
        WarmTarget page;
        if (!parse_target(loc, "", page)) {
          log::warn("warm \"", source.name(), "\": ", url, ": skipping <loc> ", loc.substr(0, 200), ": not an http(s) URL");
          continue;
        }
        if (pages.size() >= max_urls) {
          truncated = true;
          break;
        }
        pages.push_back(std::move(page));
      }
    }
    top = false;
    if (truncated) break;
  }
  if (truncated)
    log::warn("warm \"", source.name(), "\": the sitemaps list more than max_urls (", cfg.max_urls,
              ") URLs: the rest are left out");
  log::debug("warm \"", source.name(), "\": ", fetched, " sitemap files read");
  co_return pages;
}

asio::awaitable<Warmer::Answer> Warmer::get(const WarmTarget& target,
                                            const std::vector<std::pair<std::string, std::string>>& fields,
                                            std::size_t keep_body) {
  http::Request req;
  req.method = "GET";
  req.target = target.target;
  req.scheme = target.scheme == "https" ? "https" : "http";
  req.headers.add("Host", target.authority);
  for (const auto& [name, value] : fields) req.headers.add(name, value);
  req.headers.add("User-Agent", "relay-warm/" RELAY_VERSION);
  req.client_address = "127.0.0.1";  // relay itself, for X-Forwarded-For and the logs
  req.background = true;
  NoBody no_body;
  AnswerSink sink(keep_body);
  co_await service_.serve(req, no_body, sink);
  Answer answer;
  answer.status = sink.status();
  answer.x_cache = std::move(sink.x_cache);
  answer.cache_status = std::move(sink.cache_status);
  answer.complete = sink.finished && !sink.aborted && !sink.too_large;
  answer.body = std::move(sink.body);
  co_return answer;
}

asio::awaitable<void> Warmer::warm_one(std::shared_ptr<Source> source, WarmTarget target, std::size_t variant) {
  static const std::vector<std::pair<std::string, std::string>> kNone;
  const auto& fields = variant < source->cfg.variants.size() ? source->cfg.variants[variant] : kNone;
  auto answer = co_await get(target, fields, 0);
  const auto status = answer.complete ? answer.status : 0;
  const auto result = warm_result(status, answer.x_cache, answer.cache_status);
  metrics_.record_warm_request(source->name(), result);
  if (result == "hit") ++source->hit;
  else if (result == "filled") ++source->filled;
  else if (result == "not_stored") ++source->not_stored;
  else if (++source->failed <= kFailuresLogged)
    log::warn("warm \"", source->name(), "\": ", target.scheme, "://", target.authority, target.target, ": ",
              answer.status == 0 ? std::string("no complete response") : "status " + std::to_string(answer.status),
              source->failed == kFailuresLogged ? " (further failures of this run are only counted)" : "");
}

}  // namespace relay::warm
