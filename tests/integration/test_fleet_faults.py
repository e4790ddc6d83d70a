"""The fleet's failure paths: three relays on one redis-server and an origin
that paces its bodies. A holder killed mid-body, a frozen Redis and a paused
origin must cost a few seconds and a few origin requests, never a 30 s stall
followed by the stampede coalescing exists to prevent."""
import os
import random
import signal
import threading
import time

from client import RawConn, get
from harness import expected_body, kill_relay, target_for
from test_redis_eviction import evicting
from test_coalescing_redis import ThreeRelaysTestCase
from test_storage_redis import SITE

SIZE = 64 * 4096  # dripped in 4 KiB pieces every 50 ms: about 3.2 s from the origin


class Timed:
    """One GET in a thread: start, first body byte and end times (monotonic)."""

    def __init__(self, port, target):
        self.port, self.target = port, target
        self.start = self.first_byte = self.end = None
        self.response = None
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        self.start = time.monotonic()
        try:
            with RawConn(self.port, timeout=40) as c:
                c.request("GET", self.target, headers=SITE)

                def hook(_so_far):
                    if self.first_byte is None:
                        self.first_byte = time.monotonic()
                self.response = c.read_response(piece_hook=hook)
        except Exception as e:  # asserted by the test
            self.response = e
        self.end = time.monotonic()

    def join(self):
        self.thread.join(60)
        return self


class FleetFaultsTest(ThreeRelaysTestCase):
    # The defaults an operator runs with: follower_timeout 30 s, lock_ttl 3 s.
    COALESCE = {}

    def assertWhole(self, timed, path, size=SIZE):
        want = expected_body(path, size)
        for t in timed:
            self.assertNotIsInstance(t.response, Exception, "relay on %d: %r" % (t.port, t.response))
            self.assertEqual(t.response.status, 200)
            self.assertEqual(t.response.body, want, "relay on %d: body differs" % t.port)

    def full_origin_requests(self, path):
        return [r for r in self.origin.requests(path)
                if not any(h[0].lower() == "range" for h in r["headers"])]

    def kill_holder_mid_body(self, path, **validator):
        target = target_for(path, cc="max-age=600", size=SIZE, drip=0.05, drip_size=4096, **validator)
        holder_relay, *survivors = self.relays
        holder = Timed(holder_relay.port, target)
        time.sleep(0.3)  # the first relay holds the lock and is filling
        waiting = [Timed(r.port, target) for r in survivors for _ in range(3)]
        time.sleep(0.8)
        kill_relay(holder_relay)  # SIGKILL: its lock and announcement are only renewed no more
        killed = time.monotonic()
        self.addCleanup(holder_relay.start)
        for t in waiting:
            t.join()
        holder.join()
        self.assertWhole(waiting, path)
        for t in waiting:
            self.assertLess(t.end - killed, 8.0, "relay on %d answered %.1f s after the kill" % (t.port, t.end - killed))
        # Late arrivals find the key free (or being filled again), not blocked.
        time.sleep(max(0.0, killed + 5.0 - time.monotonic()))
        late = [Timed(r.port, target) for r in survivors for _ in range(3)]
        for t in late:
            t.join()
        self.assertWhole(late, path)
        for t in late:
            self.assertLess(t.end - t.start, 5.0, "a request 5 s after the kill took %.1f s" % (t.end - t.start))
        full = self.full_origin_requests(path)
        self.assertLessEqual(len(full), 3, full)
        return full, late

    def test_holder_killed_mid_body_strong_validator(self):
        full, late = self.kill_holder_mid_body("/fault/kill-strong", etag=1, ranges=1)
        # The survivors resumed what they had streamed by Range, and stored
        # it: the dead holder's request stays the only full one, and late
        # arrivals are hits.
        resumed = [r for r in self.origin.requests("/fault/kill-strong")
                   if any(h[0].lower() == "range" for h in r["headers"])]
        self.assertTrue(resumed)
        self.assertEqual(len(full), 1, full)
        self.assertEqual([t.response.header("X-Cache") for t in late], ["HIT"] * len(late))

    def test_holder_killed_mid_body_weak_validator(self):
        # No safe Range resume: a new filler is elected once the dead
        # holder's lock expires, and fetches it once for everyone.
        full, _late = self.kill_holder_mid_body("/fault/kill-weak", etagv='W/"v1"')
        self.assertEqual(len(full), 2, full)

    def test_redis_frozen_mid_burst_leaves_no_key_blocked(self):
        keys = ["/fault/frozen/%d" % i for i in range(10)]
        targets = [target_for(k, cc="max-age=600", size=20000, delay=0.2) for k in keys]
        os.kill(self.redis.pid, signal.SIGSTOP)
        try:
            # Lock requests are sent into the frozen Redis and time out; they
            # run, late, when it wakes up.
            burst = [Timed(r.port, t) for t in targets for r in self.relays]
            time.sleep(3.0)
        finally:
            os.kill(self.redis.pid, signal.SIGCONT)
        woke = time.monotonic()
        for t in burst:
            t.join()
        for t, k in zip(burst, [k for k in keys for _ in self.relays]):
            self.assertWhole([t], k, 20000)
        # A lock left by a request that gave up would live its whole TTL (3 s).
        time.sleep(max(0.0, woke + 1.5 - time.monotonic()))
        locks = self.redis.command("KEYS", self.prefix + "lock:*")
        self.assertEqual(locks, [], "locks nobody holds after the freeze")
        after = [Timed(r.port, t) for t in targets for r in self.relays]
        for t in after:
            t.join()
        for t in after:
            self.assertLess(t.end - t.start, 1.5, "a key stayed blocked: %.1f s" % (t.end - t.start))

    def test_paused_origin_does_not_delay_the_other_instances(self):
        path = "/fault/pause"
        # Two pieces, then the origin says nothing for 4 s, then the rest.
        target = target_for(path, cc="max-age=600", size=SIZE, drip=0.01, drip_size=4096, etag=1,
                            pause_at=8192, pause=4)
        holder = Timed(self.relays[0].port, target)
        time.sleep(0.05)
        peers = [Timed(r.port, target) for r in self.relays[1:] for _ in range(2)]
        for t in peers + [holder]:
            t.join()
        self.assertWhole(peers + [holder], path)
        self.assertEqual(self.origin.count(path), 1)
        lag = max(t.first_byte for t in peers) - holder.first_byte
        print("origin pause: holder's first byte %.3f s, the others' %.3f s later"
              % (holder.first_byte - holder.start, lag))
        self.assertLess(lag, 0.25)

    def test_allkeys_lru_zipf_workload_over_three_relays_has_no_failed_request(self):
        """maxmemory + allkeys-lru, a Zipf workload from clients on all three
        relays: every answer is a whole 200. An entry missing a chunk is a
        miss; a chunk evicted while its body is being sent is fetched from
        the origin by Range (the objects carry a strong ETag, as most
        origins' do)."""
        with evicting(self, "allkeys-lru"):
            rng = random.Random(18)
            paths = ["/fault/zipf/%d" % i for i in range(150)]
            weights = [1.0 / (rank + 1) for rank in range(len(paths))]
            sizes = {p: 6 * 4096 + 97 * i for i, p in enumerate(paths)}
            picks = rng.choices(paths, weights, k=1200)
            targets = {p: target_for(p, cc="max-age=600", size=sizes[p], etag=1, ranges=1) for p in paths}
            failures = []
            lock = threading.Lock()

            def client(port, share):
                for path in share:
                    try:
                        r = get(port, targets[path], headers=SITE)
                        ok = r.status == 200 and r.body == expected_body(path, sizes[path])
                        why = "status %d, %d of %d bytes" % (r.status, len(r.body), sizes[path])
                    except Exception as e:  # counted as a failure
                        ok, why = False, repr(e)
                    if not ok:
                        with lock:
                            failures.append((port, path, why))
            threads = [threading.Thread(target=client, args=(self.relays[i % 3].port, picks[i::6]))
                       for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(failures, [])
