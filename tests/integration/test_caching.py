"""Cache behaviour: MISS/HIT, status preservation, what must not be stored,
HEAD from a stored GET, chunked origin bodies, key normalization, eviction."""
import unittest

from harness import KiB, MiB, RelayTestCase, expected_body, metric

# Headers the origin sets that a stored response must replay unchanged.
# (Date may be regenerated and Age is added on a HIT, so neither is compared.)
ORIGIN_HEADERS = ("Content-Type", "Cache-Control", "X-Origin-Seq", "X-Origin-Path", "X-Extra")


class CachingTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"default_ttl": "0s", "key": {"ignore_params": ["utm_*"]}}}

    def test_miss_then_hit(self):
        target = "/c/a?cc=max-age%3D60&size=3000&hdr=X-Extra:yes"
        first = self.get(target)
        second = self.get(target)
        self.assertEqual(first.status, 200)
        self.assertEqual(second.status, 200)
        self.assertXCache(first, "MISS")
        self.assertXCache(second, "HIT")
        self.assertBody(first, "/c/a", 3000)
        self.assertEqual(first.body, second.body)
        for name in ORIGIN_HEADERS:
            self.assertEqual(first.header(name), second.header(name), name)
        age = second.header("Age")
        self.assertIsNotNone(age, "Age header on a HIT")
        self.assertTrue(age.isdigit() and int(age) <= 60, "Age=%r" % age)
        self.assertEqual(self.origin.count("/c/a"), 1)

    def test_cached_404_keeps_status(self):
        target = "/c/missing?status=404&cc=max-age%3D60&size=50"
        first = self.get(target)
        second = self.get(target)
        self.assertEqual((first.status, second.status), (404, 404))
        self.assertXCache(first, "MISS")
        self.assertXCache(second, "HIT")
        self.assertEqual(first.body, second.body)
        self.assertEqual(self.origin.count("/c/missing"), 1)

    def test_no_cache_control_with_zero_default_ttl_is_not_stored(self):
        for _ in range(2):
            r = self.get("/c/nocc?size=200")
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "BYPASS")
            self.assertBody(r, "/c/nocc", 200)
        self.assertEqual(self.origin.count("/c/nocc"), 2)

    def test_no_store_response_is_bypassed(self):
        for _ in range(2):
            r = self.get("/c/nostore?cc=no-store")
            self.assertXCache(r, "BYPASS")
        self.assertEqual(self.origin.count("/c/nostore"), 2)

    def test_private_response_is_bypassed(self):
        for _ in range(2):
            r = self.get("/c/private?cc=private%2C%20max-age%3D60")
            self.assertXCache(r, "BYPASS")
        self.assertEqual(self.origin.count("/c/private"), 2)

    def test_request_no_store_bypasses(self):
        target = "/c/reqnostore?cc=max-age%3D60"
        for _ in range(2):
            r = self.get(target, headers={"Cache-Control": "no-store"})
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "BYPASS")
        self.assertEqual(self.origin.count("/c/reqnostore"), 2)
        # Nothing was stored by those requests, so a normal one is a MISS.
        self.assertXCache(self.get(target), "MISS")

    def test_no_cache_response_goes_to_origin_every_time(self):
        # RFC 9111 5.2.2.4: stored, but never reused without validation.
        target = "/c/nocache?cc=no-cache%2C%20max-age%3D60"
        for _ in range(2):
            r = self.get(target)
            self.assertEqual(r.status, 200)
            self.assertNotEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/c/nocache"), 2)

    def test_reload_request_refetches_and_refreshes(self):
        # RFC 9111 5.2.1.4: a client's no-cache (a browser reload) reaches the origin.
        target = "/c/reload?cc=max-age%3D60"
        self.assertXCache(self.get(target), "MISS")
        # The stored response needed the origin and was replaced by its answer.
        self.assertXCache(self.get(target, headers={"Cache-Control": "no-cache"}), "EXPIRED")
        self.assertXCache(self.get(target, headers={"Pragma": "no-cache"}), "EXPIRED")
        self.assertXCache(self.get(target), "HIT")
        self.assertEqual(self.origin.count("/c/reload"), 3)

    def test_head_after_get_is_hit_without_body(self):
        target = "/c/head?cc=max-age%3D60&size=5000"
        self.assertXCache(self.get(target), "MISS")
        with self.raw() as c:
            c.request("HEAD", target)
            head = c.read_response(method="HEAD")
            self.assertEqual(head.status, 200)
            self.assertXCache(head, "HIT")
            self.assertEqual(head.header("Content-Length"), "5000")
            # No body bytes may follow a HEAD response: the next response on
            # the same connection must parse cleanly.
            c.request("GET", target)
            after = c.read_response()
            self.assertEqual(after.status, 200)
            self.assertEqual(after.body, expected_body("/c/head", 5000))
        self.assertEqual(self.origin.count("/c/head"), 1)

    def test_chunked_origin_body_on_miss_and_hit(self):
        target = "/c/chunked?chunked=1&size=100000&cc=max-age%3D60"
        with self.raw() as c:
            for want in ("MISS", "HIT"):
                c.request("GET", target)
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertXCache(r, want)
                self.assertEqual(len(r.body), 100000)
                self.assertTrue(r.body == expected_body("/c/chunked", 100000))
        self.assertEqual(self.origin.count("/c/chunked"), 1)

    def test_ignored_query_params_share_an_entry(self):
        self.assertXCache(self.get("/c/utm?cc=max-age%3D60&utm_source=a"), "MISS")
        r = self.get("/c/utm?cc=max-age%3D60&utm_source=b")
        self.assertXCache(r, "HIT")
        self.assertEqual(self.origin.count("/c/utm"), 1)

    def test_different_query_is_a_different_entry(self):
        self.assertXCache(self.get("/c/q?cc=max-age%3D60&v=1"), "MISS")
        self.assertXCache(self.get("/c/q?cc=max-age%3D60&v=2"), "MISS")
        self.assertEqual(self.origin.count("/c/q"), 2)


class DefaultTtlTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"default_ttl": "60s"}}

    def test_default_ttl_stores_responses_without_cache_control(self):
        self.assertXCache(self.get("/t/plain?size=10"), "MISS")
        r = self.get("/t/plain?size=10")
        self.assertXCache(r, "HIT")
        self.assertBody(r, "/t/plain", 10)
        self.assertEqual(self.origin.count("/t/plain"), 1)

    def test_no_store_still_wins_over_default_ttl(self):
        for _ in range(2):
            self.assertXCache(self.get("/t/ns?cc=no-store"), "BYPASS")
        self.assertEqual(self.origin.count("/t/ns"), 2)


class EvictionTest(RelayTestCase):
    RELAY_CONFIG = {"storage": {"max_size": "1MiB"}}

    def test_lru_evicts_to_stay_within_max_size(self):
        for i in range(8):
            r = self.get("/ev/%d?size=%d&cc=max-age%%3D600" % (i, 256 * KiB))
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), 256 * KiB)
        text = self.relay.metrics()
        evictions = metric(text, "relay_cache_evictions_total")
        size = metric(text, "relay_cache_size_bytes")
        entries = metric(text, "relay_cache_entries")
        self.assertIsNotNone(evictions, "relay_cache_evictions_total missing")
        self.assertGreater(evictions, 0)
        self.assertIsNotNone(size, "relay_cache_size_bytes missing")
        self.assertLessEqual(size, 1 * MiB)
        self.assertIsNotNone(entries, "relay_cache_entries missing")
        self.assertLessEqual(entries, 4)
        # The most recent object is still there; the first one is gone.
        self.assertXCache(self.get("/ev/7?size=%d&cc=max-age%%3D600" % (256 * KiB)), "HIT")
        self.assertXCache(self.get("/ev/0?size=%d&cc=max-age%%3D600" % (256 * KiB)), "MISS")


if __name__ == "__main__":
    unittest.main()


class MultiThreadTest(RelayTestCase):
    """Two event-loop threads share one store: a response stored by one
    thread is a HIT on the other, under concurrent load."""
    RELAY_CONFIG = {"server": {"threads": 2}}

    def test_hits_are_shared_across_threads(self):
        import concurrent.futures
        target = "/mt/shared?cc=max-age%3D60&size=20000"
        self.assertXCache(self.get(target), "MISS")
        # Separate connections spread over both threads (SO_REUSEPORT).
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: self.get(target), range(64)))
        for r in results:
            self.assertEqual(r.status, 200)
            # A request that lands while the first one's fill is still being
            # committed (slow sanitizer builds) follows that fill instead.
            self.assertIn(r.header("X-Cache"), ("HIT", "COALESCED"))
            self.assertBody(r, "/mt/shared", 20000)
        self.assertEqual(self.origin.count("/mt/shared"), 1)

    def test_distinct_keys_under_concurrency(self):
        import concurrent.futures
        targets = ["/mt/k%d?cc=max-age%%3D60&size=%d" % (i, 1000 + i) for i in range(32)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(self.get, targets))
            second = list(pool.map(self.get, targets))
        for i, r in enumerate(second):
            self.assertXCache(r, "HIT")
            self.assertBody(r, "/mt/k%d" % i, 1000 + i)
