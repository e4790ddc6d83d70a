"""Stampede protection in one instance: concurrent misses for one key make
one origin request, and every follower streams the body while it downloads."""
import threading
import time

from client import RawConn, metric
from harness import RelayTestCase, expected_body, run_concurrently, target_for


def fetch_all(port, target, n, results, first_byte=None, headers=None):
    """n concurrent GETs on separate connections; results[i] = Response."""
    def one(i):
        with RawConn(port, timeout=30) as c:
            c.request("GET", target, headers=headers or {})

            def hook(_so_far):
                if first_byte is not None and first_byte[i] is None:
                    first_byte[i] = time.monotonic()
            return c.read_response(piece_hook=hook)
    results[:] = run_concurrently(one, n)


def burst_fetched_once(test, target, path, size, n):
    """n concurrent GETs of target: every one gets the origin's body whole,
    the origin sees one request, all but one are COALESCED. The body."""
    results = [None] * n
    fetch_all(test.relay.port, target, n, results)
    want = expected_body(path, size)
    for r in results:
        test.assertNotIsInstance(r, Exception, r)
        test.assertEqual(r.status, 200)
        test.assertEqual(len(r.body), size)
        test.assertTrue(r.body == want, "a response's body differs from the origin's")
    test.assertEqual(test.origin.count(path), 1)
    statuses = sorted(r.header("X-Cache") for r in results)
    test.assertEqual(statuses.count("COALESCED"), n - 1, statuses)
    return want


class CoalescingTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"max_object_size": "1MiB", "coalesce": {"follower_timeout": "20s"}}}

    def test_burst_on_cold_key_makes_one_origin_request(self):
        size = 200_000
        target = target_for("/co/burst", cc="max-age=60", size=size, delay=0.5)
        n = 200
        results = [None] * n
        fetch_all(self.relay.port, target, n, results)
        want = expected_body("/co/burst", size)
        for r in results:
            self.assertNotIsInstance(r, Exception, r)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)
        self.assertEqual(self.origin.count("/co/burst"), 1)
        statuses = [r.header("X-Cache") for r in results]
        self.assertEqual(statuses.count("MISS"), 1, statuses)
        self.assertGreaterEqual(statuses.count("COALESCED") + statuses.count("HIT"), n - 1)
        coalesced = [r for r in results if r.header("X-Cache") == "COALESCED"]
        self.assertTrue(coalesced, "some requests must have followed the fill")
        self.assertIn("collapsed", coalesced[0].header("Cache-Status"))
        text = self.relay.metrics()
        self.assertGreaterEqual(metric(text, "relay_coalesced_requests_total") or 0, len(coalesced))

    def test_followers_stream_before_the_origin_finishes(self):
        # The origin drips 64 pieces of 4 KiB every 50 ms: about 3.2 s to send.
        size = 64 * 4096
        target = target_for("/co/drip", cc="max-age=60", size=size, drip=0.05, drip_size=4096)
        n = 10
        results = [None] * n
        first_byte = [None] * n
        start = time.monotonic()
        fetch_all(self.relay.port, target, n, results, first_byte=first_byte)
        done = time.monotonic()
        want = expected_body("/co/drip", size)
        for r in results:
            self.assertNotIsInstance(r, Exception, r)
            self.assertEqual(r.body, want)
        self.assertEqual(self.origin.count("/co/drip"), 1)
        # Every client, followers included, saw its first body bytes long
        # before the origin had sent the whole body.
        for t in first_byte:
            self.assertIsNotNone(t)
            self.assertLess(t - start, (done - start) / 2, "first byte only after the fill ended")

    def test_uncacheable_burst_goes_to_origin_without_waiting(self):
        target = target_for("/co/nostore", cc="no-store", size=1000, delay=0.3)
        n = 20
        results = [None] * n
        start = time.monotonic()
        fetch_all(self.relay.port, target, n, results)
        elapsed = time.monotonic() - start
        for r in results:
            self.assertNotIsInstance(r, Exception, r)
            self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.count("/co/nostore"), n)
        # Nobody sat out a follower timeout (20 s): released at once, or skipped
        # coalescing entirely once the key was known to be uncacheable.
        self.assertLess(elapsed, 10)

    def test_too_large_to_store_is_still_fetched_once_for_a_burst(self):
        # Over max_object_size (1 MiB here): never stored, but a cacheable
        # response all the same, so a burst shares one fetch through the
        # spool. Once with Content-Length (refused up front), once chunked
        # (the store gives up mid-body).
        for path, extra in (("/co/huge", {}), ("/co/huge-chunked", {"chunked": 1})):
            with self.subTest(path=path):
                size = 3 * 1024 * 1024
                target = target_for(path, cc="max-age=60", size=size, delay=0.5, **extra)
                burst_fetched_once(self, target, path, size, 20)

    def test_writer_client_disconnect_does_not_stop_followers(self):
        size = 32 * 4096
        target = target_for("/co/leave", cc="max-age=60", size=size, drip=0.05, drip_size=4096)
        writer = RawConn(self.relay.port, timeout=10)
        writer.request("GET", target)
        time.sleep(0.3)  # the writer's fill is under way
        n = 5
        results = [None] * n
        follower_thread = threading.Thread(target=fetch_all, args=(self.relay.port, target, n, results))
        follower_thread.start()
        time.sleep(0.3)
        writer.close()  # the first client leaves mid-body
        follower_thread.join(60)
        want = expected_body("/co/leave", size)
        for r in results:
            self.assertNotIsInstance(r, Exception, r)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)
        self.assertEqual(self.origin.count("/co/leave"), 1)
        # And the fill was stored: the next request is a HIT.
        self.assertXCache(self.get(target), "HIT")


class CoalescingDisabledTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"coalesce": {"enabled": False}}}

    def test_disabled_means_every_miss_goes_to_origin(self):
        target = target_for("/co/off", cc="max-age=60", size=1000, delay=0.5)
        n = 5
        results = [None] * n
        fetch_all(self.relay.port, target, n, results)
        for r in results:
            self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.count("/co/off"), n)


class CoalescingFromTheStoresFileTest(RelayTestCase):
    """With the memory store, followers of a large fill read the body from
    the store's own file (its memfd) instead of a spool copy; a store that
    gives up midway (over max_object_size, chunked) leaves them whole."""
    RELAY_CONFIG = {"cache": {"max_object_size": "4MiB",
                              "coalesce": {"spool_memory": "64KiB", "follower_timeout": "20s"}}}

    def burst(self, path, size, n, **extra):
        # Dripped, so that followers arrive while the body is still coming.
        target = target_for(path, cc="max-age=60", size=size, drip=0.01, drip_size=256 * 1024, **extra)
        return target, burst_fetched_once(self, target, path, size, n)

    def test_followers_read_the_stored_body_as_it_arrives(self):
        target, want = self.burst("/co/in-store", 3 * 1024 * 1024, 12)
        r = self.get(target)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertTrue(r.body == want)

    def test_a_store_that_gives_up_midway_leaves_followers_the_whole_body(self):
        # Chunked: the store takes the body until it passes 4 MiB, then drops it.
        target, _ = self.burst("/co/over-limit", 6 * 1024 * 1024, 8, chunked=1)
        self.assertEqual(self.get(target).header("X-Cache"), "MISS")
        self.assertEqual(self.origin.count("/co/over-limit"), 2)
