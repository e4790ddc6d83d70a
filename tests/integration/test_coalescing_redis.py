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


class DistributedCoalescingTest(RedisRelayTestCase):
    RELAYS = 3
    # A short lock lifetime, so a killed holder's lock expires within the test.
    COALESCE = {"cache": {"coalesce": {"max_fill_age": "4s", "follower_timeout": "20s"}}}

    @classmethod
    def make_relay(cls, config=None, **kw):
        return super().make_relay(merge(config or {}, cls.COALESCE), **kw)

    def test_burst_over_three_relays_makes_one_origin_request(self):
        size = 150_000
        path = "/dco/burst"
        target = target_for(path, cc="max-age=600", size=size, delay=1)
        results = []
        burst([r.port for r in self.relays], target, 20, results)
        want = expected_body(path, size)
        self.assertEqual(len(results), 60)
        for port, r in results:
            self.assertNotIsInstance(r, Exception, "relay on %d: %r" % (port, r))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)
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
        want = expected_body(path, size)
        self.assertEqual(len(results), 10)
        for port, r in results:
            self.assertNotIsInstance(r, Exception, "relay on %d: %r" % (port, r))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)

