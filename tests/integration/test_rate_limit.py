"""Rate limiting ([server.rate_limit]): GCRA token buckets per client address,
per API-key header or per route; 429 with Retry-After and the RateLimit /
RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers-11) before
the cache or the origin is touched; exempt cache hits; a fleet-wide limit
shared by two relays through one redis-server, and local limits when that
Redis dies. Clients are told apart by their loopback source address
(127.0.0.N), so each test has buckets of its own."""
import http.client
import re
import time

from client import RawConn, Response, metric
from harness import HOST, RelayTestCase, merge, target_for
from test_storage_redis import RedisRelayTestCase

POLICY_RE = re.compile(r'^"default";q=(\d+);w=(\d+)$')
RATELIMIT_RE = re.compile(r'^"default";r=(\d+);t=(\d+)$')


def request_from(source, port, method, target, headers=None, body=None, timeout=10.0):
    """One request on a fresh connection from the loopback address `source`."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response("HTTP/%d.%d" % divmod(r.version, 10), r.status, r.reason, r.getheaders(), data, None)
    finally:
        conn.close()


def rapid(port, source, target, count, headers=None):
    """count requests back to back; (responses, seconds they took)."""
    start = time.monotonic()
    out = [request_from(source, port, "GET", target, headers=headers) for _ in range(count)]
    return out, time.monotonic() - start


def limit_config(**limit):
    return {"server": {"rate_limit": limit}}


class RateLimitAssertions:
    def assertRefused(self, r):
        self.assertEqual(r.status, 429, r)
        retry = r.header("Retry-After")
        self.assertIsNotNone(retry, "429 without Retry-After")
        self.assertRegex(retry, r"^[1-9][0-9]*$")
        self.assertRegex(r.header("RateLimit-Policy") or "", POLICY_RE)
        m = RATELIMIT_RE.match(r.header("RateLimit") or "")
        self.assertIsNotNone(m, "RateLimit field: %r" % r.header("RateLimit"))
        self.assertEqual(m.group(1), "0", "a refused request has no quota left")
        self.assertIsNotNone(r.header("X-Request-ID"))
        return int(retry)

    def assertCounted(self, admitted, rate, burst, seconds, slack=1):
        """admitted within `seconds` of a fresh bucket: the burst plus what refilled."""
        most = burst + int(seconds * rate) + slack
        self.assertGreaterEqual(admitted, burst, "fewer than the burst got through")
        self.assertLessEqual(admitted, most, "more than burst + refill got through in %.2f s" % seconds)


class RateLimitByClientTest(RelayTestCase, RateLimitAssertions):
    RELAY_CONFIG = limit_config(rate=5, burst=5, key="client")

    def test_ten_rapid_requests_get_the_burst_then_429(self):
        path = "/rl/client/burst"
        responses, took = rapid(self.port, "127.0.0.2", target_for(path), 10)
        ok = [r for r in responses if r.status == 200]
        refused = [r for r in responses if r.status != 200]
        self.assertCounted(len(ok), 5, 5, took)
        self.assertGreaterEqual(len(refused), 10 - 5 - int(took * 5) - 1)
        for r in refused:
            self.assertRefused(r)
        # Admitted answers carry the fields too, counting down from the burst.
        self.assertEqual(responses[0].status, 200)
        self.assertEqual(responses[0].header("RateLimit-Policy"), '"default";q=5;w=1')
        first = RATELIMIT_RE.match(responses[0].header("RateLimit"))
        self.assertEqual(first.group(1), "4")
        # A refused request never reached the origin.
        self.assertEqual(self.origin.count(path), len(ok))
        self.assertGreaterEqual(metric(self.relay.metrics(), "relay_rate_limited_total", route="default"),
                                len(refused))

    def test_a_client_that_waits_retry_after_is_admitted_again(self):
        path = "/rl/client/recover"
        responses, _ = rapid(self.port, "127.0.0.3", target_for(path), 12)
        refused = [r for r in responses if r.status == 429]
        self.assertTrue(refused, "12 rapid requests at rate 5 burst 5 were all admitted")
        retry = self.assertRefused(refused[-1])
        self.assertLessEqual(retry, 1, "one request's worth of time is 200 ms")
        time.sleep(retry)
        again = request_from("127.0.0.3", self.port, "GET", target_for(path))
        self.assertEqual(again.status, 200)

    def test_other_client_addresses_have_their_own_buckets(self):
        path = "/rl/client/separate"
        rapid(self.port, "127.0.0.4", target_for(path), 10)
        # 127.0.0.4 has spent its bucket; 127.0.0.5 has all of its own.
        self.assertEqual(request_from("127.0.0.4", self.port, "GET", target_for(path)).status, 429)
        fresh, took = rapid(self.port, "127.0.0.5", target_for(path), 5)
        self.assertEqual([r.status for r in fresh], [200] * 5)

    def test_cache_hits_spend_tokens_without_exempt_hits(self):
        path = "/rl/client/hits"
        target = target_for(path, cc="max-age=600")
        responses, took = rapid(self.port, "127.0.0.6", target, 10)
        ok = [r for r in responses if r.status == 200]
        self.assertCounted(len(ok), 5, 5, took)
        self.assertLessEqual(self.origin.count(path), 2)  # a fill, then HITs: all counted

    def test_limits_apply_to_every_method_before_the_origin(self):
        path = "/rl/client/post"
        responses = [request_from("127.0.0.7", self.port, "POST", target_for(path), body=b"x" * 1000)
                     for _ in range(10)]
        refused = [r for r in responses if r.status == 429]
        self.assertTrue(refused)
        for r in refused:
            self.assertRefused(r)
        self.assertEqual(self.origin.count(path), 10 - len(refused))


class RateLimitByHeaderTest(RelayTestCase, RateLimitAssertions):
    # One request per 10 s after a burst of 3: nothing refills during a test.
    RELAY_CONFIG = limit_config(rate=1, per="10s", burst=3, key="header:X-Api-Key")

    def statuses(self, key, path, count, source="127.0.0.1"):
        headers = {"X-Api-Key": key} if key is not None else None
        return [request_from(source, self.port, "GET", target_for(path), headers=headers).status
                for _ in range(count)]

    def test_two_api_keys_have_separate_buckets(self):
        path = "/rl/header/keys"
        self.assertEqual(self.statuses("alpha", path, 5), [200, 200, 200, 429, 429])
        self.assertEqual(self.statuses("beta", path, 5), [200, 200, 200, 429, 429])
        # The key, not the address: alpha from another address is still spent.
        self.assertEqual(self.statuses("alpha", path, 1, source="127.0.0.9"), [429])
        r = request_from("127.0.0.1", self.port, "GET", target_for(path), headers={"X-Api-Key": "alpha"})
        self.assertEqual(self.assertRefused(r), 10)  # one request's worth of time: 10 s
        self.assertEqual(r.header("RateLimit-Policy"), '"default";q=3;w=30')

    def test_a_request_without_the_field_is_limited_by_its_address(self):
        path = "/rl/header/anonymous"
        self.assertEqual(self.statuses(None, path, 4, source="127.0.0.10"), [200, 200, 200, 429])
        self.assertEqual(self.statuses(None, path, 1, source="127.0.0.11"), [200])

    def test_a_refused_request_with_a_body_leaves_the_connection_usable(self):
        path = "/rl/header/keepalive"
        key = {"X-Api-Key": "keepalive"}
        self.assertEqual(self.statuses("keepalive", path, 3), [200, 200, 200])
        with RawConn(self.port) as c:
            c.request("POST", target_for(path), headers=key, body=b"y" * 5000)
            first = c.read_response()
            self.assertEqual(first.status, 429)
            # The unread body was skipped, not taken for the next request.
            c.request("GET", target_for(path), headers=key)
            second = c.read_response()
            self.assertEqual(second.status, 429)
            self.assertEqual(second.json()["type"], "https://relay.dev/problems/rate-limited", second.body)
        self.assertEqual(self.origin.count(path), 3)


class RateLimitExemptHitsTest(RelayTestCase, RateLimitAssertions):
    RELAY_CONFIG = limit_config(rate=1, per="10s", burst=2, key="client", exempt_hits=True)

    def test_cache_hits_pass_without_spending_tokens(self):
        path = "/rl/exempt/hits"
        target = target_for(path, cc="max-age=600")
        first = request_from("127.0.0.20", self.port, "GET", target)
        self.assertEqual(first.status, 200)
        self.assertEqual(first.header("X-Cache"), "MISS")
        self.assertIsNotNone(first.header("RateLimit"), "the fill spent a token and says so")
        for _ in range(20):
            r = request_from("127.0.0.20", self.port, "GET", target)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(path), 1)
        # The bucket still holds the second token: one more miss passes, the next does not.
        other = "/rl/exempt/misses"
        self.assertEqual(request_from("127.0.0.20", self.port, "GET", target_for(other)).status, 200)
        self.assertRefused(request_from("127.0.0.20", self.port, "GET", target_for(other)))
        # Hits still pass while the client is over its limit.
        self.assertEqual(request_from("127.0.0.20", self.port, "GET", target).status, 200)
        self.assertEqual(self.origin.count(other), 1)


class FleetRateLimitTest(RedisRelayTestCase, RateLimitAssertions):
    """Two relays with fleet = true on one redis-server: together they admit
    the limit once, not twice. With Redis dead each falls back to its own
    buckets: requests go on, refused with 429 past the local limit only."""

    RELAYS = 2
    # One request per 12 s refills: nothing does during a test.
    LIMIT = limit_config(rate=5, per="60s", burst=5, fleet=True)

    @classmethod
    def make_relay(cls, config=None, **kw):
        return super().make_relay(merge(config or {}, cls.LIMIT), **kw)

    def test_1_two_relays_share_one_limit(self):
        path = "/rl/fleet/shared"
        statuses = []
        for i in range(12):
            relay = self.relays[i % 2]
            statuses.append(request_from("127.0.0.30", relay.port, "GET", target_for(path)).status)
        # One request per 12 s refills: exactly the burst passes, across both.
        self.assertEqual(statuses.count(200), 5, statuses)
        self.assertEqual(statuses.count(429), 7, statuses)
        self.assertEqual(self.origin.count(path), 5)
        key = self.prefix + "rl:default:c:127.0.0.30"
        self.assertEqual(self.redis.command("EXISTS", key), 1)
        self.assertGreater(self.redis.command("PTTL", key), 50_000)
        limited = sum(metric(r.metrics(), "relay_rate_limited_total", route="default") or 0 for r in self.relays)
        self.assertEqual(limited, 7)

    def test_2_redis_gone_each_relay_limits_locally(self):
        path = "/rl/fleet/degraded"
        self.redis.kill()
        try:
            for relay in self.relays:
                statuses = []
                for _ in range(8):
                    start = time.monotonic()
                    r = request_from("127.0.0.31", relay.port, "GET", target_for(path))
                    statuses.append(r.status)
                    self.assertLess(time.monotonic() - start, 2.0, "a decision waited on the dead Redis")
                    if r.status == 429:
                        self.assertRefused(r)
                # Each relay's own buckets: its burst passes, then 429; nothing fails otherwise.
                self.assertEqual(statuses, [200] * 5 + [429] * 3)
                degraded = metric(relay.metrics(), "relay_rate_limit_degraded_total", route="default")
                self.assertGreaterEqual(degraded, 8)
            self.assertEqual(self.origin.count(path), 10)
        finally:
            self.redis.start()
