"""Stampede protection across instances: relays sharing one Redis take a
per-key lock there, so a burst spread over all of them reaches the origin
once; a lock holder killed mid-fill costs a retry, never an unanswered client."""
import threading
import time

from client import RawConn, metric
from harness import expected_body, kill_relay, merge, target_for
from test_storage_redis import SITE, RedisRelayTestCase


def burst(ports, target, per_relay, results):
    """per_relay concurrent GETs on each relay; results gets (port, Response|Exception)."""
    lock = threading.Lock()

    def one(port):
        try:
            with RawConn(port, timeout=30) as c:
                c.request("GET", target, headers=SITE)
                r = c.read_response()
        except Exception as e:  # asserted by the test
            r = e
        with lock:
            results.append((port, r))
    threads = [threading.Thread(target=one, args=(p,)) for p in ports for _ in range(per_relay)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


class ThreeRelaysTestCase(RedisRelayTestCase):
    RELAYS = 3
    # A short lock lifetime, so a killed holder's lock expires within the test.
    COALESCE = {"cache": {"coalesce": {"max_fill_age": "4s", "follower_timeout": "20s"}}}

    @classmethod
    def make_relay(cls, config=None, **kw):
        return super().make_relay(merge(config or {}, cls.COALESCE), **kw)

    def assertAllWhole(self, results, count, path, size):
        """results: (port, Response|Exception); every one a 200 with the whole body."""
        want = expected_body(path, size)
        self.assertEqual(len(results), count)
        for port, r in results:
            self.assertNotIsInstance(r, Exception, "relay on %d: %r" % (port, r))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)


class DistributedCoalescingTest(ThreeRelaysTestCase):
    def test_burst_over_three_relays_makes_one_origin_request(self):
        size = 150_000
        path = "/dco/burst"
        target = target_for(path, cc="max-age=600", size=size, delay=1)
        results = []
        burst([r.port for r in self.relays], target, 20, results)
        self.assertAllWhole(results, 60, path, size)
        self.assertEqual(self.origin.count(path), 1)
        # The instances that did not fetch waited on the Redis lock.
        contended = sum(metric(relay.metrics(), "relay_lock_acquisitions_total", result="contended") or 0
                        for relay in self.relays)
        self.assertGreaterEqual(contended, 1)

    def test_killed_lock_holder_does_not_strand_other_instances(self):
        size = 64 * 4096
        path = "/dco/holder"
        # The origin drips the body for ~3 s: long enough to kill the holder mid-fill.
        target = target_for(path, cc="max-age=600", size=size, drip=0.05, drip_size=4096)
        holder, *others = self.relays
        first = RawConn(holder.port, timeout=30)
        first.request("GET", target, headers=SITE)
        time.sleep(0.5)  # holder has the lock and is filling
        results = []
        waiter = threading.Thread(target=burst, args=([r.port for r in others], target, 5, results))
        waiter.start()
        time.sleep(0.5)
        kill_relay(holder)  # SIGKILL: its lock is never released, only expires
        first.close()
        waiter.join(90)
        self.assertAllWhole(results, 10, path, size)



class CrossInstanceStreamingTest(ThreeRelaysTestCase):
    """Instances waiting on another instance's fill stream it from Redis while
    it downloads, and finish it from the origin if that instance dies."""

    def start_holder(self, target):
        """One GET on the first relay, in the background; returns (thread, box)."""
        box = {}

        def run():
            try:
                with RawConn(self.relays[0].port, timeout=30) as c:
                    c.request("GET", target, headers=SITE)
                    box["response"] = c.read_response()
            except Exception as e:  # a killed holder's client fails; asserted where it matters
                box["response"] = e
            box["done"] = time.monotonic()
        thread = threading.Thread(target=run)
        thread.start()
        return thread, box

    def stream_from_others(self, target, per_relay, first_byte):
        """per_relay GETs on each other relay; first_byte[(port, i)] = time of the first body byte."""
        results = []
        lock = threading.Lock()

        def one(port, i):
            try:
                with RawConn(port, timeout=30) as c:
                    c.request("GET", target, headers=SITE)

                    def hook(_so_far):
                        first_byte.setdefault((port, i), time.monotonic())
                    r = c.read_response(piece_hook=hook)
            except Exception as e:  # asserted by the test
                r = e
            with lock:
                results.append((port, r))
        threads = [threading.Thread(target=one, args=(relay.port, i))
                   for relay in self.relays[1:] for i in range(per_relay)]
        for t in threads:
            t.start()
        return threads, results

    def test_other_instances_stream_the_fill_while_it_downloads(self):
        # The origin drips 64 pieces of 4 KiB every 50 ms: about 3.2 s to send.
        size = 64 * 4096
        path = "/xis/drip"
        target = target_for(path, cc="max-age=600", size=size, drip=0.05, drip_size=4096, etag=1)
        holder, box = self.start_holder(target)
        time.sleep(0.3)  # the first relay holds the lock and is filling
        first_byte = {}
        threads, results = self.stream_from_others(target, 5, first_byte)
        for t in threads:
            t.join(60)
        holder.join(60)
        want = expected_body(path, size)
        self.assertEqual(box["response"].body, want)
        self.assertEqual(len(results), 10)
        for port, r in results:
            self.assertNotIsInstance(r, Exception, "relay on %d: %r" % (port, r))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)
        self.assertEqual(self.origin.count(path), 1)
        # Each other instance streamed it: the first of its requests from
        # Redis ("peer"), the rest following that one in-process.
        for relay in self.relays[1:]:
            mine = [r for port, r in results if port == relay.port]
            self.assertTrue(all(r.header("X-Cache") == "COALESCED" for r in mine),
                            [r.header("X-Cache") for r in mine])
            self.assertTrue(any("detail=peer" in r.header("Cache-Status") for r in mine),
                            [r.header("Cache-Status") for r in mine])
        # Their first bytes came while the origin was still sending: well
        # before the holder's own client had the whole body.
        self.assertEqual(len(first_byte), 10)
        for key, t in first_byte.items():
            self.assertLess(t, box["done"] - 1.0, "relay %d got its first byte only after the fill" % key[0])

    def kill_holder_mid_stream(self, path, **params):
        size = 64 * 4096
        target = target_for(path, cc="max-age=600", size=size, drip=0.05, drip_size=4096, etag=1, **params)
        holder_relay = self.relays[0]
        holder, _box = self.start_holder(target)
        time.sleep(0.3)
        first_byte = {}
        threads, results = self.stream_from_others(target, 3, first_byte)
        time.sleep(0.8)  # the others are streaming the fill from Redis
        kill_relay(holder_relay)  # SIGKILL: its announcement stops being re-armed
        self.addCleanup(holder_relay.start)
        for t in threads:
            t.join(60)
        holder.join(60)
        self.assertAllWhole(results, 6, path, size)
        self.assertGreater(len(first_byte), 0, "nobody streamed before the kill")
        return self.origin.requests(path)

    def test_killed_holder_mid_stream_rest_comes_by_range(self):
        requests = self.kill_holder_mid_stream("/xis/kill-range", ranges=1)
        # The holder's request, then at most one resumption per other instance.
        self.assertLessEqual(len(requests), 3, requests)
        resumed = [r for r in requests[1:] if any(h[0].lower() == "range" for h in r["headers"])]
        self.assertTrue(resumed, requests)
        for r in resumed:
            names = {h[0].lower(): h[1] for h in r["headers"]}
            self.assertIn("if-range", names)
            self.assertEqual(r["status"], 206)

    def test_killed_holder_mid_stream_origin_ignoring_ranges(self):
        requests = self.kill_holder_mid_stream("/xis/kill-full")
        self.assertLessEqual(len(requests), 3, requests)
        # relay asked for the rest; the origin sent it all and relay skipped
        # what its clients already had.
        self.assertTrue(any(h[0].lower() == "range" for r in requests[1:] for h in r["headers"]), requests)
        self.assertTrue(all(r["status"] == 200 for r in requests), requests)
