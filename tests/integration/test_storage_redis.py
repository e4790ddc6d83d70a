"""Redis storage through relay: two relays share one Redis, and a Redis that
dies mid-load costs cache hits only (every request still answered correctly),
with hits back soon after it returns."""
import os
import subprocess
import time

from harness import HOST, RedisServer, RelayTestCase, expected_body, get, redis_server_bin, request, wait_stored, wait_until


def redis_storage(url, prefix):
    return {"storage": {"backend": "redis",
                        "redis": {"url": url, "key_prefix": prefix,
                                  "connect_timeout": "1s", "command_timeout": "500ms"}}}


# The cache key includes the Host header: relays behind one name share keys,
# so every request here names the same host whichever relay port it reaches.
SITE = {"Host": "cdn.test.example"}


def cached_target(path, size):
    return "%s?size=%d&cc=max-age%%3D600" % (path, size)


class RedisRelayTestCase(RelayTestCase):
    """One origin, one redis-server, RELAYS relays sharing it (same key prefix)."""

    START_RELAY = False
    RELAYS = 1
    STORAGE = {}  # more [storage] keys, e.g. {"tier": "memory+redis"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = None
        cls.relays = []
        try:
            if not redis_server_bin():
                raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
            cls.redis = RedisServer(cls.workdir).start()
            cls.prefix = "it:%d:%s:" % (os.getpid(), cls.__name__)
            for i in range(cls.RELAYS):
                config = redis_storage(cls.redis.url, cls.prefix)
                config["storage"].update(cls.STORAGE)
                relay = cls.make_relay(config, name="relay%d" % (i + 1))
                cls.relays.append(relay.start())
            cls.relay = cls.relays[0]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for relay in getattr(cls, "relays", [])[1:]:
            relay.stop()
        if getattr(cls, "redis", None):
            cls.redis.stop()
        super().tearDownClass()

    def diagnostics(self):
        parts = [super().diagnostics()]
        for relay in self.relays[1:]:
            parts.append(relay.logs())
        if self.redis:
            parts.append(self.redis.logs())
        return "\n".join(parts)


class RedisTwoRelaysTest(RedisRelayTestCase):
    RELAYS = 2

    def test_second_relay_hits_what_the_first_stored(self):
        path, size = "/redis/shared", 70_000
        target = cached_target(path, size)
        first, second = self.relays
        r1 = get(first.port, target, headers=SITE)
        self.assertEqual(r1.status, 200)
        self.assertXCache(r1, "MISS")
        self.assertBody(r1, path, size)
        wait_stored(first.port, target, headers=SITE)  # committed to Redis just after the response

        r2 = get(second.port, target, headers=SITE)
        self.assertEqual(r2.status, 200)
        self.assertXCache(r2, "HIT")
        self.assertBody(r2, path, size)
        self.assertEqual(self.origin.count(path), 1)

        keys = self.redis.command("KEYS", self.prefix + "*")
        self.assertTrue(keys, "nothing stored under the configured key_prefix %r" % self.prefix)

        r3 = get(second.port, target, headers=SITE)
        self.assertXCache(r3, "HIT")
        r3 = get(first.port, target, headers=SITE)
        self.assertXCache(r3, "HIT")
        self.assertEqual(self.origin.count(path), 1)


class RedisTierInvalidationTest(RedisRelayTestCase):
    """memory+redis: each instance keeps a memory copy in front of the
    shared Redis. A successful POST through one instance must invalidate
    the URL in the others' memory levels too (RFC 9111 §4.4), not only in
    Redis and its own memory."""
    RELAYS = 2
    STORAGE = {"tier": "memory+redis"}

    def test_a_post_through_one_instance_invalidates_the_others_memory_copies(self):
        path, size = "/redis/tier", 3000
        target = cached_target(path, size)
        first, second = self.relays
        self.assertXCache(get(first.port, target, headers=SITE), "MISS")
        wait_stored(first.port, target, headers=SITE)
        for _ in range(2):  # the second instance reads it from Redis, then from its own memory
            self.assertXCache(get(second.port, target, headers=SITE), "HIT")
        self.assertEqual(self.origin.count(path), 1)

        posted = request(first.port, "POST", target, headers=SITE, body=b"change")
        self.assertEqual(posted.status, 200)
        cached = dict(SITE, **{"Cache-Control": "only-if-cached"})
        wait_until(lambda: get(second.port, target, headers=cached).status == 504, 3,
                   what="the second instance to drop its memory copy")
        r = get(second.port, target, headers=SITE)
        self.assertEqual(r.status, 200)
        self.assertNotEqual(r.header("X-Cache"), "HIT")
        self.assertBody(r, path, size)


class RedisReconnectTest(RedisRelayTestCase):
    """After an outage relay reconnects on its own (a timer, at most about a
    second apart), not on the first request that needs Redis, which would
    then fail."""

    def relay_clients(self):
        """relay's established connections to Redis, as the kernel sees them
        (CLIENT LIST also lists this test's own short connections, which a
        busy Redis may not have reaped yet)."""
        out = subprocess.run(["ss", "-Htnp", "state", "established", "dst", "%s:%d" % (HOST, self.redis.port)],
                             capture_output=True, text=True, check=True).stdout
        return sum(1 for line in out.splitlines() if "pid=%d," % self.relay.pid in line)

    def settled_relay_clients(self):
        """The count once connections made for the first request settle: the
        smallest of a few samples."""
        counts = []
        for _ in range(5):
            counts.append(self.relay_clients())
            time.sleep(0.05)
        return min(counts)

    def test_connections_come_back_without_a_request(self):
        path, size = "/redis/reconnect", 2000
        self.assertXCache(self.get(cached_target(path, size)), "MISS")
        wait_stored(self.port, cached_target(path, size))
        before = self.settled_relay_clients()
        self.assertGreaterEqual(before, 2)  # storage and lock, at least
        self.redis.kill()
        time.sleep(2.5)  # the back-off reaches its cap
        self.redis.start()
        # No request in between: only relay's own timers can bring them back.
        wait_until(lambda: self.relay_clients() >= before, 5, what="relay's %d connections to come back" % before)
        target = cached_target("/redis/reconnect/after", size)
        self.assertXCache(self.get(target), "MISS")
        self.assertXCache(wait_stored(self.port, target), "HIT")


class RedisOutageTest(RedisRelayTestCase):
    REQUESTS = 200
    KILL_AT = 100
    KEYS = 4

    def test_redis_killed_mid_load_then_restarted(self):
        paths = ["/redis/load/%d" % i for i in range(self.KEYS)]
        sizes = [20_000 + 1_000 * i for i in range(self.KEYS)]
        targets = [cached_target(p, s) for p, s in zip(paths, sizes)]
        for target, path, size in zip(targets, paths, sizes):
            self.assertXCache(self.get(target), "MISS")
            wait_stored(self.port, target)
            r = self.get(target)
            self.assertXCache(r, "HIT")
            self.assertBody(r, path, size)

        start = time.monotonic()
        slowest, statuses, failures = 0.0, {}, []
        for i in range(self.REQUESTS):
            if i == self.KILL_AT:
                self.redis.kill()
            k = i % self.KEYS
            t0 = time.monotonic()
            try:
                r = self.get(targets[k], timeout=10)
            except OSError as e:
                failures.append("request %d (%s): %r" % (i, paths[k], e))
                if not self.relay.alive():
                    break
                continue
            took = time.monotonic() - t0
            slowest = max(slowest, took)
            cache = r.header("X-Cache")
            statuses[cache] = statuses.get(cache, 0) + 1
            if r.status != 200 or r.body != expected_body(paths[k], sizes[k]):
                failures.append("request %d (%s): status %d, %d body bytes, X-Cache %s"
                                % (i, paths[k], r.status, len(r.body), cache))
            self.assertLess(time.monotonic() - start, 120, "the load loop is far too slow")
        self.assertTrue(self.relay.alive(), "relay died while Redis was down (exit %s)"
                        % self.relay.proc.returncode)
        self.assertEqual(failures, [], "requests failed while Redis was down")
        self.assertLess(slowest, 5.0, "a request took %.2fs with Redis down" % slowest)
        self.assertGreater(statuses.get("HIT", 0), 0, "no hits before Redis was killed: %r" % statuses)

        # Same port again: relay reconnects (back-off) and hits resume.
        self.redis.start()
        back = time.monotonic()
        hit, seen = None, []
        for _ in range(100):
            r = self.get(targets[0], timeout=10)
            self.assertEqual(r.status, 200)
            self.assertBody(r, paths[0], sizes[0])
            seen.append(r.header("X-Cache"))
            if r.header("X-Cache") == "HIT":
                hit = time.monotonic() - back
                break
            if time.monotonic() - back > 10:
                break
            time.sleep(0.2)
        self.assertIsNotNone(hit, "no HIT within 10 s of Redis coming back; X-Cache seen: %s" % seen)
        self.assertLess(hit, 8.0)
