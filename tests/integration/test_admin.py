"""The admin listener ([admin]): JSON answers and RFC 9457 problems, the
bearer token, the client allowlist, /metrics on the admin listener by default
(and [metrics] listen = "public" or an address of its own), /healthz, and
/readyz: ready, not ready while a configured Redis is down, and not ready as
soon as a drain begins while the admin listener keeps answering."""
import json
import signal

from harness import (RawConn, RedisServer, RelayTestCase, expected_body, free_port, get, port_open,
                     redis_server_bin, run_relay_cli, wait_until)
from test_storage_redis import redis_storage


def as_json(resp):
    return json.loads(resp.body.decode())


class AdminApiTest(RelayTestCase):
    def assertProblem(self, resp, status):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.header("Content-Type"), "application/problem+json")
        body = as_json(resp)
        self.assertEqual(body["status"], status)
        self.assertEqual(body["type"], "about:blank")
        for member in ("title", "detail"):
            self.assertIsInstance(body[member], str)
            self.assertTrue(body[member], member)
        return body

    def test_healthz_is_json_with_each_loops_lag(self):
        r = self.relay.admin("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        body = as_json(r)
        self.assertEqual(body["status"], "ok")
        self.assertFalse(body["draining"])
        self.assertEqual(len(body["loops"]), 1)
        self.assertEqual(body["loops"][0]["state"], "running")
        self.assertLess(body["loops"][0]["lag_ms"], 1000)
        head = self.relay.admin("HEAD", "/healthz")
        self.assertEqual((head.status, head.body), (200, b""))

    def test_readyz_is_200_when_ready(self):
        r = self.relay.admin("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        body = as_json(r)
        self.assertEqual(body["status"], "ready")
        self.assertEqual(body["not_ready"], [])
        self.assertTrue(body["checks"]["listening"]["ok"])
        self.assertEqual(body["checks"]["storage"], {"backend": "memory", "ok": True})

    def test_unknown_path_is_a_404_problem(self):
        body = self.assertProblem(self.relay.admin("GET", "/nowhere?x=1"), 404)
        self.assertEqual(body["title"], "Not Found")
        self.assertIn("/nowhere", body["detail"])

    def test_wrong_method_is_a_405_problem_naming_the_allowed_ones(self):
        r = self.relay.admin("POST", "/readyz", body=b"{}")
        self.assertProblem(r, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")

    def test_metrics_are_on_the_admin_listener_and_not_the_public_one(self):
        self.get("/adm/warm?size=10")
        r = self.relay.admin("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn("relay_requests_total", r.body.decode())
        # On the client listener /metrics is an ordinary path: the origin answers it.
        public = self.get("/metrics")
        self.assertNotIn(b"relay_requests_total", public.body)
        self.assertEqual(self.origin.count("/metrics"), 1)
        self.assertIn("metrics at /metrics on the admin listener", self.relay.stderr_path.read_text())


class AdminTokenTest(RelayTestCase):
    RELAY_CONFIG = {"admin": {"token": "s3cret-token"}}

    def test_a_request_without_the_token_gets_401(self):
        r = self.relay.admin("GET", "/healthz")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("Content-Type"), "application/problem+json")
        self.assertTrue(r.header("WWW-Authenticate").startswith("Bearer"), r.headers)
        self.assertEqual(as_json(r)["status"], 401)
        wrong = self.relay.admin("GET", "/healthz", headers={"Authorization": "Bearer guess"})
        self.assertEqual(wrong.status, 401)
        self.assertIn('error="invalid_token"', wrong.header("WWW-Authenticate"))
        self.assertEqual(self.relay.admin("GET", "/metrics").status, 401, "metrics are behind the token too")

    def test_the_right_token_gets_200(self):
        r = self.relay.admin("GET", "/healthz", headers={"Authorization": "Bearer s3cret-token"})
        self.assertEqual(r.status, 200, r)
        lower = self.relay.admin("GET", "/readyz", headers={"Authorization": "bearer s3cret-token"})
        self.assertEqual(lower.status, 200, "the auth scheme is case-insensitive")


class AdminTokenFileTest(RelayTestCase):
    START_RELAY = False

    def test_the_token_can_come_from_a_file(self):
        token_file = self.workdir / "admin.token"
        token_file.write_text("from-a-file\n")
        relay = type(self).relay = self.make_relay({"admin": {"token_file": str(token_file)}}).start()
        self.assertEqual(relay.admin("GET", "/healthz").status, 401)
        ok = relay.admin("GET", "/healthz", headers={"Authorization": "Bearer from-a-file"})
        self.assertEqual(ok.status, 200, ok)

    def test_check_config_refuses_an_unreadable_token_file_and_both_keys(self):
        config = self.workdir / "bad.toml"
        config.write_text('[admin]\ntoken_file = "%s"\n' % (self.workdir / "missing.token"))
        p = run_relay_cli(["--check-config", str(config)])
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.toml:2: admin.token_file: cannot read", p.stderr)
        config.write_text('[admin]\ntoken = "a"\ntoken_file = "/etc/hostname"\n')
        p = run_relay_cli(["--check-config", str(config)])
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.toml:3: admin.token_file: set admin.token or admin.token_file, not both", p.stderr)


class AdminAllowlistTest(RelayTestCase):
    RELAY_CONFIG = {"admin": {"allow": ["::1/128"]}}

    def test_a_client_outside_the_allowlist_gets_403(self):
        r = self.relay.admin("GET", "/healthz")  # from 127.0.0.1
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.header("Content-Type"), "application/problem+json")
        body = as_json(r)
        self.assertEqual(body["status"], 403)
        self.assertIn("127.0.0.1", body["detail"])


class PublicMetricsTest(RelayTestCase):
    RELAY_CONFIG = {"metrics": {"listen": "public"}}

    def test_public_serves_metrics_on_the_client_listener(self):
        r = self.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn("relay_requests_total", r.body.decode())
        self.assertEqual(self.origin.count("/metrics"), 0, "/metrics must not be proxied")
        self.assertEqual(self.relay.admin("GET", "/metrics").status, 404)


class OwnMetricsListenerTest(RelayTestCase):
    START_RELAY = False

    def test_an_address_gives_metrics_a_listener_of_their_own(self):
        port = free_port()
        relay = type(self).relay = self.make_relay({"metrics": {"listen": "127.0.0.1:%d" % port}}).start()
        wait_until(lambda: port_open(port), 5, what="the metrics listener")
        self.assertIn("relay_requests_total", relay.metrics())
        self.assertEqual(relay.metrics_port, port)
        self.assertEqual(get(port, "/healthz").status, 404, "only metrics on the metrics listener")
        self.assertEqual(relay.admin("GET", "/metrics").status, 404)
        self.assertEqual(relay.admin("GET", "/healthz").status, 200)


class AdminOffTest(RelayTestCase):
    RELAY_ENV = {"RELAY_ADMIN_LISTEN": ""}

    def test_admin_off_turns_metrics_off_and_says_so(self):
        self.assertEqual(self.get("/adm/off?size=10").status, 200)
        log = self.relay.stderr_path.read_text()
        self.assertIn('admin API off (admin.listen = "")', log)
        self.assertIn("metrics off", log)
        self.assertIsNone(self.relay.admin_port)
        self.assertNotIn(b"relay_requests_total", self.get("/metrics").body)
        p = run_relay_cli(["--check-config", str(self.relay.config_path)], env={"RELAY_ADMIN_LISTEN": ""})
        self.assertEqual(p.returncode, 0, p.stderr)


class ReadyzRedisTest(RelayTestCase):
    START_RELAY = False

    def test_readyz_names_redis_when_it_is_down(self):
        if not redis_server_bin():
            self.skipTest("redis-server is not installed")
        redis = RedisServer(self.workdir).start()
        self.addCleanup(redis.stop)
        relay = type(self).relay = self.make_relay(redis_storage(redis.url, "it:readyz:")).start()
        self.addCleanup(relay.stop)

        def ready():
            r = relay.admin("GET", "/readyz")
            return r if r.status == 200 else None
        body = as_json(wait_until(ready, 5, interval=0.1, what="/readyz 200 with Redis up"))
        self.assertTrue(body["checks"]["redis"]["ok"], body)

        redis.kill()
        r = relay.admin("GET", "/readyz")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        body = as_json(r)
        self.assertEqual(body["not_ready"], ["redis"])
        self.assertFalse(body["checks"]["redis"]["ok"])
        self.assertIn("error", body["checks"]["redis"])
        self.assertEqual(relay.admin("GET", "/healthz").status, 200, "alive, just not ready")

    def test_readyz_is_503_when_the_configured_redis_never_ran(self):
        relay = type(self).relay = self.make_relay(
            redis_storage("redis://127.0.0.1:%d/0" % free_port(), "it:readyz:")).start()
        self.addCleanup(relay.stop)
        r = relay.admin("GET", "/readyz")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(as_json(r)["not_ready"], ["redis"])


class ReadyzDrainTest(RelayTestCase):
    START_RELAY = False

    def test_readyz_turns_503_when_the_drain_begins_and_admin_answers_until_exit(self):
        relay = type(self).relay = self.make_relay({"server": {"shutdown_grace": "10s"}}).start()
        self.assertEqual(relay.admin("GET", "/readyz").status, 200)
        result = {}
        with RawConn(relay.port, timeout=15) as slow:
            slow.request("GET", "/adm/slow?delay=2&size=1000")
            wait_until(lambda: self.origin.count("/adm/slow") == 1, 3, what="request at origin")
            relay.signal(signal.SIGTERM)
            wait_until(lambda: not port_open(relay.port), 1.5, what="the client listener to close")
            r = relay.admin("GET", "/readyz")
            self.assertEqual(r.status, 503, r)
            body = as_json(r)
            self.assertEqual(body["status"], "draining")
            self.assertIn("listening", body["not_ready"])
            self.assertFalse(body["checks"]["listening"]["ok"])
            health = relay.admin("GET", "/healthz")
            self.assertEqual(health.status, 200)
            self.assertTrue(as_json(health)["draining"])
            self.assertTrue(relay.alive())
            result["resp"] = slow.read_response()
        self.assertEqual(result["resp"].status, 200)
        self.assertEqual(result["resp"].body, expected_body("/adm/slow", 1000))
        self.assertEqual(relay.wait(10.0), 0, "exit status after the drain")
        self.assertFalse(port_open(relay.admin_port), "the admin listener closes with the process")
