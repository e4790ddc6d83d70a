// Hot reload's split between keys a running relay applies and keys that
// need a restart (config/reload.hpp).
#include <doctest/doctest.h>

#include "config_errors.hpp"
#include "relay/config/reload.hpp"

using namespace relay;

namespace {
using relay::test::load;
}  // namespace

TEST_CASE("reload: applied keys need no restart") {
  const auto running = load("[upstream]\nurl = \"http://127.0.0.1:9000\"\n");
  const auto candidate = load(R"(
[server]
header_timeout = "3s"
max_connections = 50
[upstream]
url = "http://127.0.0.1:9000"
first_byte_timeout = "2s"
max_connections = 8
[cache]
default_ttl = "1m"
strip_request_headers = ["X-Debug"]
[[cache.rules]]
path = "/static/*"
ttl = "1h"
[log]
level = "debug"
format = "json"
)");
  CHECK_FALSE(config::restart_needed(running, candidate).has_value());
  CHECK_FALSE(config::restart_needed(running, running).has_value());
}

TEST_CASE("reload: each restart-only key is named") {
  const auto running = load("");
  CHECK(config::restart_needed(running, load("[storage]\nbackend = \"disk\"\n")) == "storage.backend");
  // The default pool is made from it: its member cannot change under running requests.
  CHECK(config::restart_needed(running, load("[upstream]\nurl = \"http://10.0.0.1:9000/prefix\"\n")) ==
        "upstream.url");
  CHECK(config::restart_needed(running, load("[storage.disk]\npath = \"/tmp/elsewhere\"\n")) == "storage.disk.path");
  CHECK(config::restart_needed(running, load("[storage]\nmax_size = \"1MiB\"\n")) == "storage.max_size");
  CHECK(config::restart_needed(running, load("[storage.redis]\nurl = \"redis://10.0.0.2:6379/1\"\n")) ==
        "storage.redis.url");
  CHECK(config::restart_needed(running, load("[server]\nthreads = 4\n")) == "server.threads");
  CHECK(config::restart_needed(running, load("[server]\nlisten = \"127.0.0.1:8181\"\n")) == "server.listen");
  CHECK(config::restart_needed(running, load("[cache.coalesce]\nenabled = false\n")) == "cache.coalesce.enabled");
  CHECK(config::restart_needed(running, load("[maintenance]\ninterval = \"1m\"\n")) == "maintenance.interval");
  CHECK(config::restart_needed(running, load("[admin]\nlisten = \"127.0.0.1:9999\"\n")) == "admin.listen");
  CHECK(config::restart_needed(running, load("[metrics]\npath = \"/m\"\n")) == "metrics.path");
}

TEST_CASE("reload: the first restart-only change in schema order is the one named") {
  const auto running = load("");
  const auto candidate = load("[server]\nthreads = 2\n[storage]\nbackend = \"disk\"\n");
  CHECK(config::restart_needed(running, candidate) == "server.threads");
}

TEST_CASE("reload: a snapshot taken before a swap stays as it was") {
  config::Live live(std::make_shared<const config::Config>(load("")));
  CHECK(live.generation() == 1);
  auto before = live.get();
  auto next = std::make_shared<config::Config>(load("[cache]\ndefault_ttl = \"5m\"\n"));
  CHECK(live.set(next) == 2);
  CHECK(before->cache.default_ttl == config::Duration{0});
  CHECK(live.get()->cache.default_ttl == std::chrono::minutes(5));
  CHECK(live.generation() == 2);
}
