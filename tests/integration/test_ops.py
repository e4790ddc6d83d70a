"""Operations: /metrics, graceful shutdown, command line, env overrides, access log."""
import json
import os
import signal
import threading
import time
import unittest

from harness import (RawConn, RelayTestCase, expected_body, free_port, get, metric, port_open,
                     run_relay_cli, tail, wait_until)

METRIC_NAMES = ("relay_requests_total", "relay_request_duration_seconds",
                "relay_upstream_requests_total", "relay_cache_entries", "relay_cache_size_bytes",
                "relay_cache_evictions_total")


class MetricsTest(RelayTestCase):
    def test_metrics_endpoint_lists_metrics(self):
        self.get("/m/warm?size=10")
        r = get(self.relay.metrics_port, "/metrics")
        self.assertEqual(r.status, 200)
        for name in METRIC_NAMES:
            self.assertIn(name, r.body.decode(), "%s missing from /metrics" % name)
        self.assertEqual(self.origin.count("/metrics"), 0, "/metrics must not be proxied")

    def test_hit_counter_increases_after_a_hit(self):
        before = self.relay.metrics()
        self.assertXCache(self.get("/m/a?cc=max-age%3D60"), "MISS")
        self.assertXCache(self.get("/m/a?cc=max-age%3D60"), "HIT")
        after = self.relay.metrics()
        hits = lambda text: metric(text, "relay_requests_total", cache="hit") or 0
        misses = lambda text: metric(text, "relay_requests_total", cache="miss") or 0
        upstream = lambda text: metric(text, "relay_upstream_requests_total") or 0
        self.assertGreaterEqual(hits(after) - hits(before), 1, after)
        self.assertGreaterEqual(misses(after) - misses(before), 1, after)
        self.assertGreaterEqual(upstream(after) - upstream(before), 1, after)


    def test_process_metrics_describe_the_relay_process(self):
        text = self.relay.metrics()
        with open("/proc/%d/stat" % self.relay.pid) as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        started = boot + start_ticks / os.sysconf("SC_CLK_TCK")
        self.assertAlmostEqual(metric(text, "process_start_time_seconds"), started, delta=1.0)
        self.assertGreater(metric(text, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreaterEqual(metric(text, "process_cpu_seconds_total"), 0)
        fds = len(os.listdir("/proc/%d/fd" % self.relay.pid))
        self.assertAlmostEqual(metric(text, "process_open_fds"), fds, delta=8)
        self.assertGreaterEqual(metric(text, "process_max_fds"), metric(text, "process_open_fds"))
        self.assertIn("# TYPE process_cpu_seconds_total counter", text)


class RouteMetricsTest(RelayTestCase):
    """relay_route_requests_total{route, cache}: a named rule's name, else the
    [[routes]] entry's, else default."""
    START_RELAY = False
    RELAY_CONFIG = {
        "cache": {"rules": [{"path": "/static/*", "name": "static", "ttl": "60s"},
                            {"path": "/plain/*", "ttl": "60s"}]},
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.relay = cls.make_relay(cls.RELAY_CONFIG)
            cls.relay.extra_toml = '[[routes]]\nname = "api"\npath = "/api/*"\n'
            cls.relay.start()
        except BaseException:
            cls.tearDownClass()
            raise

    def test_requests_are_counted_by_route_label_and_cache_status(self):
        for path in ("/static/a", "/static/a", "/plain/x", "/api/v", "/api/v", "/other"):
            self.assertEqual(self.get(path + "?cc=max-age%3D60").status, 200)
        text = self.relay.metrics()
        count = lambda route, cache: metric(text, "relay_route_requests_total", route=route, cache=cache) or 0
        self.assertEqual((count("static", "miss"), count("static", "hit")), (1, 1))
        self.assertEqual((count("api", "miss"), count("api", "hit")), (1, 1))
        self.assertEqual(count("default", "miss"), 2)  # /plain/x: an unnamed rule; /other: no rule
        routes = {line.split('route="')[1].split('"')[0] for line in text.splitlines()
                  if line.startswith("relay_route_requests_total{")}
        self.assertEqual(routes, {"static", "api", "default"})


class ShutdownTest(RelayTestCase):
    START_RELAY = False

    def test_sigterm_drains_in_flight_request(self):
        relay = type(self).relay = self.make_relay({"server": {"shutdown_grace": "5s"}}).start()
        idle = RawConn(relay.port)  # an idle keep-alive connection must not block exit
        idle.request("GET", "/sd/idle?size=10")
        self.assertEqual(idle.read_response().status, 200)

        result = {}

        def client():
            try:
                with RawConn(relay.port, timeout=10) as c:
                    c.request("GET", "/sd/slow?delay=2&size=200000")
                    result["resp"] = c.read_response()
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e

        t = threading.Thread(target=client)
        t.start()
        try:
            wait_until(lambda: self.origin.count("/sd/slow") == 1, 3, what="request at origin")
            sent = time.monotonic()
            relay.signal(signal.SIGTERM)
            wait_until(lambda: not port_open(relay.port), 1.5,
                       what="listener to close after SIGTERM")
            t.join(10)
            self.assertNotIn("error", result)
            r = result["resp"]
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, expected_body("/sd/slow", 200000))
            code = relay.wait(6.0)
            self.assertEqual(code, 0, "exit code after SIGTERM")
            self.assertLess(time.monotonic() - sent, 6.0, "exit within shutdown_grace")
        finally:
            idle.close()
            t.join(10)


GOOD_CONFIG = """\
[server]
listen = "127.0.0.1:{port}"
threads = 1
max_header_size = "16KiB"
max_url_length = 8192
header_timeout = "10s"
idle_timeout = "60s"
shutdown_grace = "10s"
[upstream]
url = "http://127.0.0.1:{origin}"
connect_timeout = "5s"
first_byte_timeout = "30s"
idle_timeout = "30s"
[cache]
default_ttl = "0s"
max_object_size = "64MiB"
[cache.key]
ignore_params = ["utm_*"]
[storage]
backend = "memory"
max_size = "256MiB"
[metrics]
enabled = true
path = "/metrics"
[log]
level = "info"
format = "text"
access_log = "stdout"
"""

BAD_CONFIG = """\
# a typo on line 3
[server]
listn = "127.0.0.1:8080"
"""


class CliTest(RelayTestCase):
    START_RELAY = False

    def test_version(self):
        p = run_relay_cli(["--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout + p.stderr, r"\d+\.\d+")

    def test_help(self):
        p = run_relay_cli(["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("--config", p.stdout + p.stderr)

    def test_check_config_accepts_documented_keys(self):
        path = self.workdir / "good.toml"
        path.write_text(GOOD_CONFIG.format(port=free_port(), origin=self.origin.port))
        p = run_relay_cli(["--config", str(path), "--check-config"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_check_config_rejects_unknown_key_with_line(self):
        path = self.workdir / "bad.toml"
        path.write_text(BAD_CONFIG)
        p = run_relay_cli(["--config", str(path), "--check-config"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("server.listn", p.stderr)
        self.assertRegex(p.stderr, r":3\b|line 3\b", "line number of the bad key")

    def test_unusable_spool_dir_is_refused_at_start_naming_the_key(self):
        relay = self.make_relay({"cache": {"coalesce": {"spool_dir": str(self.workdir / "no-such-dir")}}},
                                name="spool")
        with self.assertRaises(RuntimeError) as caught:
            relay.start(timeout=5)
        self.assertIn("cache.coalesce.spool_dir", str(caught.exception))

    def test_env_overrides_listen(self):
        file_port, env_port = free_port(), free_port()
        relay = self.make_relay(env={"RELAY_SERVER_LISTEN": "127.0.0.1:%d" % env_port},
                                port=file_port)
        type(self).relay = relay
        relay.start(wait_port=env_port)
        self.assertEqual(get(env_port, "/env/x?size=10").status, 200)
        self.assertFalse(port_open(file_port), "the file's listen port must not be used")
        self.assertEqual(relay.stop(), 0)


class AccessLogTest(RelayTestCase):
    @classmethod
    def relay_config(cls):
        cls.log_path = cls.workdir / "access.log"
        return {"log": {"format": "json", "access_log": str(cls.log_path)}}

    @staticmethod
    def pick(entry, names, prefix=None):
        for n in names:
            if n in entry:
                return entry[n]
        if prefix:
            for k, v in entry.items():
                if k.startswith(prefix):
                    return v
        raise AssertionError("none of %s in access log entry %r" % (names, entry))

    def entries(self):
        if not self.log_path.exists():
            return []
        lines = [l for l in self.log_path.read_text().splitlines() if l.strip()]
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                raise AssertionError("access log line is not JSON: %r" % line)
            if str(self.pick(entry, ("path", "target", "uri", "url"))).startswith("/log/"):
                out.append(entry)
        return out

    def test_json_line_per_request(self):
        sent = [("/log/a?cc=max-age%3D60", "log-1", 200, "miss"),
                ("/log/a?cc=max-age%3D60", "log-2", 200, "hit"),
                ("/log/nf?status=404", "log-3", 404, "bypass")]
        for target, rid, status, _ in sent:
            self.assertEqual(self.get(target, headers={"X-Request-ID": rid}).status, status)
        entries = wait_until(lambda: len(self.entries()) >= 3 and self.entries(), 5,
                             what="3 access log lines in %s" % self.log_path)
        self.assertEqual(len(entries), 3, tail(self.log_path))
        for entry, (target, rid, status, cache) in zip(entries, sent):
            self.assertEqual(self.pick(entry, ("method",)), "GET")
            self.assertTrue(str(self.pick(entry, ("path", "target", "uri", "url")))
                            .startswith(target.split("?")[0]))
            self.assertEqual(int(self.pick(entry, ("status", "status_code"))), status)
            self.assertEqual(str(self.pick(entry, ("cache", "cache_status"))).lower(), cache)
            nbytes = self.pick(entry, ("bytes", "bytes_sent", "body_bytes"), prefix="bytes")
            self.assertGreaterEqual(float(nbytes), 100)
            self.assertGreaterEqual(float(self.pick(entry, (), prefix="duration")), 0)
            self.assertEqual(self.pick(entry, ("request_id", "requestId", "req_id", "id")), rid)


if __name__ == "__main__":
    unittest.main()
