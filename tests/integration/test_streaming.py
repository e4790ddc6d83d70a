"""Large bodies stream through relay with bounded memory, and large objects
within max_object_size are stored and replayed intact."""
import hashlib
import time
import unittest

import os

from harness import (KiB, MiB, RawConn, RelayTestCase, body_bytes, expected_sha, metric, read_rss,
                     run_concurrently, wait_until)

BIG = 64 * MiB
RSS_BUDGET = 48 * MiB      # peak RSS growth allowed while streaming BIG
CLIENT_RATE = 40 * MiB     # bytes/s the slow client reads at (~1.6 s for BIG)
_SHA = {}


def big_sha(path):
    if path not in _SHA:
        _SHA[path] = expected_sha(path, BIG)
    return _SHA[path]


class RssWatch:
    """Peak RSS growth of a process from now: sample() as bytes flow, then growth()."""

    def __init__(self, pid):
        self.pid = pid
        self.base = read_rss(pid)["VmRSS"]
        self.peak = self.base

    def sample(self, _got=None):
        self.peak = max(self.peak, read_rss(self.pid)["VmRSS"])

    def check(self, test, budget):
        hwm = read_rss(self.pid)["VmHWM"]
        growth = max(self.peak, hwm) - self.base
        test.assertLess(growth, budget, "RSS grew %.1f MiB (sampled peak %.1f MiB, VmHWM %.1f MiB, base %.1f MiB)"
                        % (growth / MiB, (self.peak - self.base) / MiB, hwm / MiB, self.base / MiB))


def fetch(port, target, rate=None, on_piece=None):
    """GET target reading at most `rate` bytes/s; returns (response, length, sha256)."""
    digest, length = hashlib.sha256(), [0]

    def sink(data):
        digest.update(data)
        length[0] += len(data)

    start = time.monotonic()

    def hook(got):
        if on_piece:
            on_piece(got)
        if rate:
            ahead = got / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(min(ahead, 0.5))

    with RawConn(port, timeout=20, rcvbuf=256 * KiB) as c:
        c.request("GET", target)
        r = c.read_response(sink=sink, piece_hook=hook)
    return r, length[0], digest.hexdigest()


class StreamThroughTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"max_object_size": "8MiB"}}

    def test_64mib_body_streams_with_bounded_rss(self):
        self.assertEqual(self.get("/warm?size=1000").status, 200)
        rss = RssWatch(self.relay.pid)
        target = "/big/stream?size=%d&cc=max-age%%3D60" % BIG
        r, length, sha = fetch(self.port, target, rate=CLIENT_RATE, on_piece=rss.sample)
        self.assertEqual(r.status, 200)
        self.assertEqual(length, BIG)
        self.assertEqual(sha, big_sha("/big/stream"))
        rss.check(self, RSS_BUDGET)

        # Larger than max_object_size: not stored, so the origin sees it again.
        self.assertNotEqual(r.header("X-Cache"), "HIT")
        r2, length2, sha2 = fetch(self.port, target)
        self.assertNotEqual(r2.header("X-Cache"), "HIT")
        self.assertEqual((length2, sha2), (BIG, big_sha("/big/stream")))
        self.assertEqual(self.origin.count("/big/stream"), 2)


class StoreLargeTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"max_object_size": "128MiB"}, "storage": {"max_size": "256MiB"}}

    def test_64mib_object_is_cached(self):
        target = "/big/cached?size=%d&cc=max-age%%3D60" % BIG
        for want in ("MISS", "HIT"):
            r, length, sha = fetch(self.port, target)
            self.assertEqual(r.status, 200)
            self.assertXCache(r, want)
            self.assertEqual(length, BIG)
            self.assertEqual(sha, big_sha("/big/cached"))
            if want == "MISS":  # storing 64 MiB may finish just after the last byte is sent
                wait_until(lambda: (metric(self.relay.metrics(), "relay_cache_size_bytes") or 0)
                           >= BIG, 5, interval=0.1, what="the 64 MiB object to be stored")
        self.assertEqual(self.origin.count("/big/cached"), 1)


class MemoryFileBodyTest(RelayTestCase):
    """A memory object past 32 KiB is kept in a sealed memfd and sent with
    sendfile(2) on plain connections: every way of reading it back (whole,
    ranges across its 64 KiB slices, HEAD, a slow reader) is byte-exact,
    and small objects stay on the heap."""
    RELAY_CONFIG = {"cache": {"max_object_size": "64MiB"}, "storage": {"max_size": "256MiB"}}

    def memfds(self):
        fds = "/proc/%d/fd" % self.relay.pid
        names = []
        for fd in os.listdir(fds):
            try:
                names.append(os.readlink(os.path.join(fds, fd)))
            except OSError:
                pass  # closed meanwhile
        return sum(1 for n in names if n.startswith("/memfd:relay-body"))

    def test_large_hits_whole_ranged_and_head_are_byte_exact(self):
        size = 300_000
        target = "/sf/a?size=%d&cc=max-age%%3D60" % size
        want = body_bytes("/sf/a", size)
        before = self.memfds()
        for cache in ("MISS", "HIT", "HIT"):
            r = self.get(target)
            self.assertEqual(r.status, 200)
            self.assertXCache(r, cache)
            self.assertEqual(r.body, want)
        self.assertEqual(self.memfds(), before + 1)
        self.assertEqual(self.origin.count("/sf/a"), 1)

        for first, last in ((0, 0), (65_535, 65_536), (70_000, 200_000), (size - 10, size - 1)):
            r = self.get(target, headers={"Range": "bytes=%d-%d" % (first, last)})
            self.assertEqual(r.status, 206)
            self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, size))
            self.assertEqual(r.body, want[first:last + 1])
        r = self.request("HEAD", target)
        self.assertEqual((r.status, r.header("Content-Length"), r.body), (200, str(size), b""))

        # Keep-alive survives a sendfile answer: the next request on the connection works.
        with self.raw() as c:
            for _ in range(3):
                c.request("GET", target)
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, want))

        small = "/sf/small?size=1000&cc=max-age%3D60"
        for _ in range(2):
            self.assertEqual(self.get(small).body, body_bytes("/sf/small", 1000))
        self.assertEqual(self.memfds(), before + 1)

    def test_object_sent_from_its_file_while_filling_is_stored_though_the_client_has_not_read_it(self):
        # A fill's client is sent the bytes from the body's file (sendfile), so
        # the socket buffers still hold its pages when the fill commits: the
        # commit must not wait for them, nor fail (F_SEAL_WRITE would: EBUSY).
        size = 8 * MiB
        target = "/sf/unread?size=%d&cc=max-age%%3D60" % size
        with RawConn(self.port, timeout=20, rcvbuf=256 * KiB) as c:
            c.request("GET", target)
            time.sleep(0.5)  # the body sits in socket buffers, unread
            r = c.read_response(sink=lambda data: None)
        self.assertXCache(r, "MISS")
        wait_until(lambda: (metric(self.relay.metrics(), "relay_cache_size_bytes") or 0) >= size, 5,
                   interval=0.1, what="the object to be stored")
        r, length, sha = fetch(self.port, target)
        self.assertXCache(r, "HIT")
        self.assertEqual((length, sha), (size, expected_sha("/sf/unread", size)))
        self.assertEqual(self.origin.count("/sf/unread"), 1)

    def test_slow_reader_of_a_large_memory_object_gets_every_byte(self):
        size = 16 * MiB
        target = "/sf/slow?size=%d&cc=max-age%%3D60" % size
        r, length, sha = fetch(self.port, target)
        self.assertXCache(r, "MISS")
        wait_until(lambda: (metric(self.relay.metrics(), "relay_cache_size_bytes") or 0) >= size, 5,
                   interval=0.1, what="the object to be stored")
        r, length, sha = fetch(self.port, target, rate=20 * MiB)  # the socket fills and drains many times
        self.assertXCache(r, "HIT")
        self.assertEqual((length, sha), (size, expected_sha("/sf/slow", size)))


class CoalescedLargeTest(RelayTestCase):
    """Many clients of one large cold object: one origin fetch, every client
    streams at its own pace, and the fill's spool spills to a file instead
    of holding the body in memory."""

    @classmethod
    def relay_config(cls):
        # Disk storage, so the stored copy is not in relay's memory either.
        return {"cache": {"max_object_size": "128MiB",
                          "coalesce": {"spool_memory": "1MiB", "spool_dir": str(cls.workdir),
                                       "follower_timeout": "30s"}},
                "storage": {"backend": "disk",
                            "disk": {"path": str(cls.workdir / "cache"), "max_size": "256MiB",
                                     "min_free_space": "0"}}}

    def test_followers_of_a_64mib_fill_stream_with_bounded_rss(self):
        self.assertEqual(self.get("/warm?size=1000").status, 200)
        rss = RssWatch(self.relay.pid)
        target = "/big/coalesced?size=%d&cc=max-age%%3D60" % BIG
        # Different paces: the slowest holds back no one.
        results = run_concurrently(
            lambda i: fetch(self.port, target, rate=CLIENT_RATE * (1 + i % 3), on_piece=rss.sample), 6)
        for res in results:
            self.assertNotIsInstance(res, Exception, res)
            r, length, sha = res
            self.assertEqual(r.status, 200)
            self.assertEqual((length, sha), (BIG, big_sha("/big/coalesced")))
        self.assertEqual(self.origin.count("/big/coalesced"), 1)
        caches = sorted(res[0].header("X-Cache") for res in results)
        self.assertEqual(caches.count("MISS"), 1, caches)
        # One copy of a 64 MiB body in memory would blow this alone.
        rss.check(self, RSS_BUDGET)
