"""Origins and routes: [[origins]] pools with ordered failover, active health
checks and passive ejection, balancing (consistent hashing), [[routes]] by
Host and path, per-route header edits and client cache directives, per-member
metrics. Several real origin processes; members that die are really killed."""
import re
import time

from harness import HOST, Origin, RelayTestCase, free_port, metric, target_for, wait_until
from client import get, request

ACCEPTANCE_ROUTES = """
[[routes]]
path = "/limited/*"
origin = "app"
rate_limit = { rate = 5, burst = 5, key = "client" }   # per second, per client address
max_body_size = "1KiB"

[[routes]]
path = "/*"
origin = "app"
response_headers = { set = { "X-Content-Type-Options" = "nosniff" } }
"""


def member_metric(text, name, **labels):
    return metric(text, name, **labels) or 0


class GatewayCase(RelayTestCase):
    """Extra origins beside the harness's one, started per class."""
    START_RELAY = False
    EXTRA_ORIGINS = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origins = []
        try:
            for i in range(cls.EXTRA_ORIGINS):
                d = cls.workdir / ("origin%d" % i)
                d.mkdir()
                cls.origins.append(Origin(d).start())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for o in getattr(cls, "origins", []):
            o.stop()
        super().tearDownClass()

    def start_relay(self, extra_toml, config=None, upstream=False):
        # A directory per test: a log that survived the previous test would answer its waits.
        relay = self.make_relay(config or {}, upstream=self.origin.url if upstream else "",
                                name="relay-" + self._testMethodName)
        if not upstream:
            relay.config.pop("upstream", None)
        relay.extra_toml = extra_toml
        type(self).relay = relay.start()
        return relay

    def tearDown(self):
        if type(self).relay:
            type(self).relay.stop()
            type(self).relay = None


class FailoverTest(GatewayCase):
    def pool(self, primary, backup, check="/health", rise=1):
        return """
[[origins]]
name = "app"
members = [ { url = "%s", priority = 1 },
            { url = "%s", priority = 2 } ]
health_check = { path = "%s", interval = "200ms", timeout = "150ms", rise = %d, fall = 1 }
""" % (primary.url, backup.url, check, rise)

    def test_acceptance_config_failover_and_recovery(self):
        primary, backup = self.origins
        relay = self.start_relay(self.pool(primary, backup) + ACCEPTANCE_ROUTES)
        for i in range(5):
            r = get(relay.port, "/f/a%d" % i)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("x-content-type-options"), "nosniff")
        self.assertEqual(primary.count("/f/a0"), 1)
        self.assertEqual(backup.count("/f/a0"), 0)

        # The primary dies: before the checker notices, connect failures are
        # retried on the backup; afterwards nothing is sent to it at all.
        primary.stop()
        failures = [r.status for r in (get(relay.port, "/f/b%d" % i) for i in range(20)) if r.status != 200]
        self.assertEqual(failures, [])
        wait_until(lambda: "is down" in relay.stderr_path.read_text(), 5, what="the primary marked down")
        failures = [r.status for r in (get(relay.port, "/f/c%d" % i) for i in range(20)) if r.status != 200]
        self.assertEqual(failures, [])
        self.assertEqual(backup.count("/f/c19"), 1)
        health = lambda: member_metric(relay.metrics(), "relay_upstream_health", origin="app", member=primary.url)
        wait_until(lambda: health() == 0, 3, what="relay_upstream_health 0 for the dead primary")

        # Back on its port: one passing check (rise = 1) and traffic returns.
        primary.start(port=primary.port)
        wait_until(lambda: "is up again" in relay.stderr_path.read_text(), 5, what="the primary up again")
        r = get(relay.port, "/f/d0")
        self.assertEqual(r.status, 200)
        self.assertEqual(primary.count("/f/d0"), 1)
        self.assertEqual(backup.count("/f/d0"), 0)
        text = relay.metrics()
        self.assertGreaterEqual(member_metric(text, "relay_upstream_requests_total", origin="app",
                                              member=backup.url, status_class="2xx"), 20)
        self.assertEqual(member_metric(text, "relay_upstream_health", origin="app", member=primary.url), 1)

    def test_acceptance_config_route_limits(self):
        primary, backup = self.origins
        relay = self.start_relay(self.pool(primary, backup) + ACCEPTANCE_ROUTES)
        statuses = [get(relay.port, "/limited/r%d" % i).status for i in range(12)]
        self.assertEqual(statuses[:5], [200] * 5, statuses)
        self.assertIn(429, statuses)
        refused = get(relay.port, "/limited/again")
        if refused.status == 429:
            self.assertTrue(refused.has("retry-after"))
            self.assertIn("application/problem+json", refused.header("content-type"))
        # The other route has no limit; the body limit is the limited route's alone.
        self.assertEqual([get(relay.port, "/free/r%d" % i).status for i in range(12)], [200] * 12)
        self.assertEqual(request(relay.port, "POST", "/free/upload", body=b"x" * 4096).status, 200)
        time.sleep(1.1)  # the bucket refills
        big = request(relay.port, "POST", "/limited/upload", body=b"x" * 4096)
        self.assertEqual(big.status, 413)
        self.assertEqual(primary.count("/limited/upload"), 0)

    def test_a_failing_check_status_marks_down_and_rise_brings_back(self):
        primary, backup = self.origins
        # The check path answers 503 on the primary until re-scripted.
        primary.script("/hc", [{"status": 503}])
        relay = self.start_relay(self.pool(primary, backup, check="/hc", rise=2))
        wait_until(lambda: "is down" in relay.stderr_path.read_text(), 5, what="the primary marked down by status")
        self.assertIn("answered 503", relay.stderr_path.read_text())
        self.assertEqual(get(relay.port, "/g/a").status, 200)
        self.assertEqual(primary.count("/g/a"), 0)
        self.assertEqual(backup.count("/g/a"), 1)
        primary.unscript("/hc")
        wait_until(lambda: "is up again" in relay.stderr_path.read_text(), 5, what="rise after two passing checks")
        self.assertEqual(get(relay.port, "/g/b").status, 200)
        self.assertEqual(primary.count("/g/b"), 1)

    def test_a_request_with_a_body_is_never_retried(self):
        primary, backup = self.origins
        dead = "http://%s:%d" % (HOST, free_port())
        relay = self.start_relay("""
[[origins]]
name = "app"
members = [ "%s", "%s" ]
passive = { failures = 100 }
""" % (dead, backup.url))
        statuses = []
        for i in range(6):
            r = request(relay.port, "POST", "/p/post%d" % i, body=b"x" * 10)
            statuses.append(r.status)
        # Round-robin sends half of them to the dead member: those fail, once each.
        self.assertEqual(statuses.count(502), 3, statuses)
        self.assertEqual(backup.count("/p/post0") + backup.count("/p/post1"), 1)
        # The same GETs are all answered (one connect retry each).
        self.assertEqual([get(relay.port, "/p/get%d" % i).status for i in range(6)], [200] * 6)


class PassiveEjectionTest(GatewayCase):
    EXTRA_ORIGINS = 1

    def test_connect_failures_eject_a_member_for_the_cooldown(self):
        (alive,) = self.origins
        dead = "http://%s:%d" % (HOST, free_port())
        relay = self.start_relay("""
[[origins]]
name = "app"
members = [ "%s", "%s" ]
passive = { failures = 1, cooldown = "30s" }
""" % (dead, alive.url))
        self.assertEqual([get(relay.port, "/e/%d" % i).status for i in range(10)], [200] * 10)
        log = relay.stderr_path.read_text()
        self.assertEqual(len(re.findall(r"is down \(passive ejection", log)), 1, log)
        # Once ejected the dead member is not tried again within the cool-down.
        self.assertEqual(len(re.findall(r"refused the connection; trying another member", log)), 1, log)
        text = relay.metrics()
        self.assertEqual(member_metric(text, "relay_upstream_health", origin="app", member=dead), 0)
        self.assertEqual(member_metric(text, "relay_upstream_requests_total", origin="app", member=dead,
                                       status_class="error"), 1)
        self.assertEqual(member_metric(text, "relay_upstream_requests_total", origin="app", member=alive.url,
                                       status_class="2xx"), 10)


class ConsistentHashTest(GatewayCase):
    EXTRA_ORIGINS = 3

    def test_each_object_goes_to_one_member(self):
        relay = self.start_relay("""
[[origins]]
name = "shield"
balance = "consistent-hash"
members = [ "%s", "%s", "%s" ]
""" % tuple(o.url for o in self.origins))
        paths = ["/ch/obj%d" % i for i in range(30)]
        for _ in range(3):
            for p in paths:  # uncacheable (no freshness): every request reaches an origin
                self.assertEqual(get(relay.port, p).status, 200)
        used = set()
        for p in paths:
            counts = [o.count(p) for o in self.origins]
            self.assertEqual(sorted(counts), [0, 0, 3], (p, counts))
            used.add(counts.index(3))
        self.assertGreaterEqual(len(used), 2, "30 objects all hashed to one member")


class RoutesTest(GatewayCase):
    def test_routes_by_host_and_path_with_header_edits(self):
        api, static = self.origins
        relay = self.start_relay("""
[[origins]]
name = "api"
members = [ "%s" ]
[[origins]]
name = "static"
members = [ "%s" ]
host = "assets.internal"

[[routes]]
host = "*.api.test"
origin = "api"
request_headers = { set = { "X-Tenant" = "acme" }, remove = ["X-Debug"] }
response_headers = { remove = ["X-Origin-Seq"], add = { "Strict-Transport-Security" = "max-age=63072000" } }
[[routes]]
path = "/static/*"
origin = "static"
""" % (api.url, static.url), upstream=True)
        r = get(relay.port, "/v1/users", headers={"Host": "eu.api.test", "X-Debug": "1"})
        self.assertEqual(r.status, 200)
        self.assertFalse(r.has("x-origin-seq"))
        self.assertEqual(r.header("strict-transport-security"), "max-age=63072000")
        seen = dict((k.lower(), v) for k, v in api.requests("/v1/users")[-1]["headers"])
        self.assertEqual(seen.get("x-tenant"), "acme")
        self.assertNotIn("x-debug", seen)
        self.assertEqual(seen.get("host"), "eu.api.test")  # preserve_host

        self.assertEqual(get(relay.port, "/static/app.css").status, 200)
        self.assertEqual(static.count("/static/app.css"), 1)
        seen = dict((k.lower(), v) for k, v in static.requests("/static/app.css")[-1]["headers"])
        self.assertEqual(seen.get("host"), "assets.internal")  # the pool's fixed Host

        # Neither: the default pool ([upstream] url), with the response untouched.
        r = get(relay.port, "/other")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.has("x-origin-seq"))
        self.assertEqual(self.origin.count("/other"), 1)
        self.assertEqual(api.count("/other") + static.count("/other"), 0)

    def test_no_matching_route_is_404_and_never_reaches_an_origin(self):
        api, _ = self.origins
        relay = self.start_relay("""
[[origins]]
name = "api"
members = [ "%s" ]
[[routes]]
path = "/api/*"
origin = "api"
""" % api.url)
        self.assertEqual(get(relay.port, "/api/x").status, 200)
        self.assertEqual(get(relay.port, "/elsewhere").status, 404)
        self.assertEqual(api.count("/elsewhere"), 0)

    def test_route_cache_rules_and_client_no_cache(self):
        api, _ = self.origins
        relay = self.start_relay("""
[[origins]]
name = "api"
members = [ "%s" ]
[[routes]]
path = "/*"
origin = "api"
honour_client_no_cache = false
[[routes.cache_rules]]
path = "/cached/*"
ttl = "1h"
""" % api.url)
        self.assertEqual(get(relay.port, "/cached/a").header("x-cache"), "MISS")
        for headers in ({"Cache-Control": "no-cache"}, {"Cache-Control": "max-age=0"}, {"Pragma": "no-cache"}):
            r = get(relay.port, "/cached/a", headers=headers)
            self.assertEqual(r.header("x-cache"), "HIT", headers)
        self.assertEqual(api.count("/cached/a"), 1)
        # Without the route's rule nothing is stored (no freshness from the origin).
        self.assertEqual(get(relay.port, "/plain").header("x-cache"), "BYPASS")


class DefaultPoolTest(RelayTestCase):
    """No [[origins]]: [upstream] url is the one pool, and a client's no-cache
    is honoured as RFC 9111 has it."""

    def test_one_origin_config_behaves_as_before(self):
        t = target_for("/d/a", cc="max-age=60")
        self.assertEqual(self.get(t).header("x-cache"), "MISS")
        self.assertEqual(self.get(t, headers={"Cache-Control": "no-cache"}).header("x-cache"), "EXPIRED")
        self.assertEqual(self.origin.count("/d/a"), 2)
        text = self.relay.metrics()
        self.assertGreaterEqual(member_metric(text, "relay_upstream_requests_total", origin="default",
                                              member=self.origin.url, status_class="2xx"), 2)


class TrustedProxyTest(RelayTestCase):
    """relay behind a load balancer or TLS terminator on 127.0.0.1."""
    RELAY_CONFIG = {"server": {"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"], "forwarded": True}}

    def fields(self, headers):
        r = self.get("/echo/tp", headers=headers)
        self.assertEqual(r.status, 200)
        out = {}
        for name, value in r.json()["headers"]:
            out.setdefault(name.lower(), []).append(value)
        return out

    def test_a_trusted_peer_keeps_and_extends_the_chain(self):
        seen = self.fields({"X-Forwarded-For": "203.0.113.7, 10.1.1.1", "X-Forwarded-Proto": "https",
                            "Forwarded": "for=203.0.113.7;proto=https"})
        self.assertEqual(seen.get("x-forwarded-for"), ["203.0.113.7, 10.1.1.1, 127.0.0.1"])
        self.assertEqual(seen.get("x-forwarded-proto"), ["https"])
        self.assertEqual(seen.get("forwarded"),
                         ['for=203.0.113.7;proto=https, for=127.0.0.1;proto=https;host="127.0.0.1:%d"'
                          % self.relay.port])
        # The client in the access log is the first untrusted hop from the right.
        wait_until(lambda: "203.0.113.7" in self.relay.stdout_path.read_text(), 3,
                   what="the real client in the access log")

    def test_a_proto_that_is_not_http_or_https_is_replaced(self):
        seen = self.fields({"X-Forwarded-Proto": "javascript"})
        self.assertEqual(seen.get("x-forwarded-proto"), ["http"])
