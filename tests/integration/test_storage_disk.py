"""Disk storage through relay: entries survive restarts (graceful and kill -9),
a fill cut by a crash leaves no partial entry, damaged body files are never
served (neither whole nor as a Range: every 64 KiB block is verified before
any of its bytes leaves), and the memory+disk tier keeps its lower level
across restarts."""
import time

from harness import (KiB, MiB, RawConn, RelayTestCase, disk_object_path, expected_body,
                     fetch_partial, fetch_whole, files_under, flip_bytes, kill_relay, metric,
                     restart_relay, wait_stored)


def disk_storage(cache_dir, **extra):
    storage = {"backend": "disk",
               "disk": {"path": str(cache_dir), "max_size": "256MiB", "min_free_space": "0"}}
    storage.update(extra)
    return {"storage": storage}


def cached_target(path, size, **params):
    query = "size=%d&cc=max-age%%3D600" % size
    for k, v in params.items():
        query += "&%s=%s" % (k, v)
    return "%s?%s" % (path, query)


class DiskTestCase(RelayTestCase):
    STORAGE_EXTRA = {}

    @classmethod
    def relay_config(cls):
        cls.cache_dir = cls.workdir / "cache"
        return disk_storage(cls.cache_dir, **cls.STORAGE_EXTRA)

    def fetch_ok(self, target, path, size, want_cache=None):
        r = self.get(target)
        self.assertEqual(r.status, 200, r)
        self.assertBody(r, path, size)
        if want_cache is not None:
            self.assertXCache(r, want_cache)
        return r

    def fill_and_wait(self, target, path, size):
        """A MISS, then wait until the entry is committed (the disk commit
        may finish just after the response went out)."""
        self.fetch_ok(target, path, size, "MISS")
        wait_stored(self.port, target)


class DiskRestartTest(DiskTestCase):
    def test_hit_after_graceful_restart(self):
        path, size = "/disk/restart", 50_000
        target = cached_target(path, size)
        self.fill_and_wait(target, path, size)
        self.fetch_ok(target, path, size, "HIT")
        restart_relay(self.relay)
        self.fetch_ok(target, path, size, "HIT")
        self.assertEqual(self.origin.count(path), 1)

    def test_hit_after_kill9_restart(self):
        path, size = "/disk/crash-restart", 120_000
        target = cached_target(path, size)
        self.fill_and_wait(target, path, size)
        self.fetch_ok(target, path, size, "HIT")
        # A committed entry is durable: a crash right after does not lose it.
        restart_relay(self.relay, kill=True)
        self.fetch_ok(target, path, size, "HIT")
        self.assertEqual(self.origin.count(path), 1)


class DiskCrashDuringFillTest(DiskTestCase):
    def test_kill9_during_slow_fill_leaves_no_partial_entry(self):
        keep_path, keep_size = "/disk/kept", 20_000
        keep = cached_target(keep_path, keep_size)
        self.fill_and_wait(keep, keep_path, keep_size)
        self.fetch_ok(keep, keep_path, keep_size, "HIT")

        # The origin drips 200 KB over ~1.2 s; relay is killed a few pieces in.
        slow_path, slow_size = "/disk/slow", 200_000
        slow = cached_target(slow_path, slow_size, drip="0.05", drip_size=8192)
        with RawConn(self.port, timeout=10) as c:
            c.request("GET", slow)
            c.read_head()
            c.read_exact(3 * 8 * KiB, lambda _data: None)  # the fill is under way
            kill_relay(self.relay)
        self.assertEqual(self.origin.count(slow_path), 1)

        self.relay.start()
        self.assertEqual(files_under(self.cache_dir / "tmp"), [],
                         "tmp/ debris left after the restart")
        r = self.fetch_ok(slow, slow_path, slow_size)
        self.assertNotEqual(r.header("X-Cache"), "HIT", "a partial fill was served from the cache")
        self.assertEqual(self.origin.count(slow_path), 2)
        # The complete fetch is stored normally.
        wait_stored(self.port, slow)
        self.fetch_ok(slow, slow_path, slow_size, "HIT")
        self.assertEqual(self.origin.count(slow_path), 2)

        self.fetch_ok(keep, keep_path, keep_size, "HIT")
        self.assertEqual(self.origin.count(keep_path), 1)


class DiskCorruptionTest(DiskTestCase):
    def damage(self, path, size):
        body = expected_body(path, size)
        obj = disk_object_path(self.cache_dir, body)
        self.assertTrue(obj.exists(), "no body file at %s (objects/ holds %s)"
                        % (obj, files_under(self.cache_dir / "objects")))
        flip_bytes(obj, [size // 3, size // 2])
        return obj

    def test_damaged_body_is_never_served_whole(self):
        path, size = "/disk/damaged", 200_000
        target = cached_target(path, size)
        self.fill_and_wait(target, path, size)
        self.fetch_ok(target, path, size, "HIT")
        self.damage(path, size)

        good = False
        for attempt in range(3):
            r, complete = fetch_whole(self.port, target)
            if complete:
                self.assertEqual(r.status, 200, r)
                self.assertTrue(r.body == expected_body(path, size),
                                "attempt %d: a damaged body was served as a complete response "
                                "(X-Cache %s)" % (attempt, r.header("X-Cache")))
                good = True
                break
        self.assertTrue(good, "no complete, correct response within 3 requests")
        self.assertEqual(self.origin.count(path), 2, "the origin was not asked for a fresh copy")
        self.assertTrue(self.relay.alive())

    def test_damaged_small_body_is_refetched_at_once(self):
        # The body fits in one read chunk: the store can check it before the
        # response head is sent, so the very next request gets a correct body.
        path, size = "/disk/damaged-small", 30_000
        target = cached_target(path, size)
        self.fill_and_wait(target, path, size)
        self.fetch_ok(target, path, size, "HIT")
        self.damage(path, size)

        r, complete = fetch_whole(self.port, target)
        self.assertTrue(complete, "the response was cut short: the damage was found only after "
                                  "the head was sent (a MISS with a correct body was expected)")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body == expected_body(path, size), "a damaged body was served")
        self.assertNotEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(path), 2)
        # The fresh copy is stored again and served.
        wait_stored(self.port, target)
        self.fetch_ok(target, path, size, "HIT")
        self.assertEqual(self.origin.count(path), 2)


BLOCK = 64 * KiB  # the disk store's verification unit


class DiskBlockIntegrityTest(DiskTestCase):
    """A body file damaged in place (bytes flipped, size unchanged) in its
    middle: no response, whole or Range, may carry a damaged byte, and the
    entry is dropped so the next request fetches a correct copy."""

    SIZE = 1 * MiB
    DAMAGED = 9  # the block that gets damaged, of 16

    def stored_big(self, path):
        target = cached_target(path, self.SIZE, ranges=1)
        self.fill_and_wait(target, path, self.SIZE)
        self.fetch_ok(target, path, self.SIZE, "HIT")
        body = expected_body(path, self.SIZE)
        obj = disk_object_path(self.cache_dir, body)
        self.assertTrue(obj.exists(), "no body file at %s (objects/ holds %s)"
                        % (obj, files_under(self.cache_dir / "objects")))
        return target, body, obj

    def damage_block(self, obj, block):
        """Flips two bytes inside block `block`; returns their offsets."""
        offsets = [block * BLOCK + 1234, block * BLOCK + 40_000]
        size = obj.stat().st_size
        flip_bytes(obj, offsets)
        self.assertEqual(obj.stat().st_size, size)
        return offsets

    def assertNoDamagedByte(self, resp, body, first, what):
        """Every byte received (from offset `first` of the body on) is the origin's."""
        self.assertIsNotNone(resp, "%s: not even a response head" % what)
        got = resp.body
        want = body[first:first + len(got)]
        if got != want:
            at = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
            self.fail("%s: body offset %d differs from the origin's: a damaged byte was sent "
                      "(status %d, X-Cache %s, %d bytes received)"
                      % (what, first + at, resp.status, resp.header("X-Cache"), len(got)))
        self.assertLessEqual(len(got), len(body) - first)

    def assertRefetched(self, target, path, fetches):
        """The damaged entry is gone: a MISS with the right bytes, then a HIT."""
        r = self.fetch_ok(target, path, self.SIZE)
        self.assertNotEqual(r.header("X-Cache"), "HIT", "the damaged entry is still served")
        self.assertEqual(self.origin.count(path), fetches + 1)
        wait_stored(self.port, target)
        self.fetch_ok(target, path, self.SIZE, "HIT")

    def test_range_inside_a_damaged_block_is_answered_from_the_origin(self):
        path = "/disk/blocks/range-inside"
        target, body, obj = self.stored_big(path)
        offsets = self.damage_block(obj, self.DAMAGED)
        first, last = offsets[0] - 100, offsets[1] + 100
        r, complete = fetch_partial(self.port, target, {"Range": "bytes=%d-%d" % (first, last)})
        self.assertNoDamagedByte(r, body, first, "Range over the damaged block")
        # Nothing was sent when the block failed: the origin answers instead.
        self.assertTrue(complete, "the Range answer was cut short")
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, self.SIZE))
        self.assertTrue(r.body == body[first:last + 1])
        self.assertNotEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(path), 2, "the Range was not fetched from the origin")
        self.assertRefetched(target, path, 2)

    def test_range_into_a_damaged_block_stops_before_it(self):
        path = "/disk/blocks/range-across"
        target, body, obj = self.stored_big(path)
        self.damage_block(obj, self.DAMAGED)
        first, last = 5 * BLOCK + 77, 12 * BLOCK
        r, complete = fetch_partial(self.port, target, {"Range": "bytes=%d-%d" % (first, last)})
        self.assertNoDamagedByte(r, body, first, "Range across the damaged block")
        if complete:
            self.assertTrue(r.body == body[first:last + 1])
        else:
            # The verified blocks before the damaged one went out, then the cut.
            self.assertEqual(r.status, 206, r)
            self.assertLessEqual(first + len(r.body), self.DAMAGED * BLOCK)
        self.assertRefetched(target, path, self.origin.count(path))

    def test_full_get_stops_before_a_damaged_block(self):
        path = "/disk/blocks/full"
        target, body, obj = self.stored_big(path)
        self.damage_block(obj, self.DAMAGED)
        before = self.relay.metrics()
        r, complete = fetch_partial(self.port, target)
        self.assertNoDamagedByte(r, body, 0, "full GET of a damaged body")
        self.assertFalse(complete and r.header("X-Cache") == "HIT",
                         "a damaged entry was served as a complete HIT")
        if not complete:
            self.assertEqual(len(r.body), self.DAMAGED * BLOCK,
                             "the verified blocks before the damaged one should all have been sent")
        after = self.relay.metrics()
        for name, labels in (("relay_storage_errors_total", {"backend": "disk", "reason": "integrity"}),
                             ("relay_cache_evictions_total", {"backend": "disk", "reason": "integrity"})):
            self.assertGreater(metric(after, name, **labels) or 0, metric(before, name, **labels) or 0,
                               "%s%s did not count the damaged block" % (name, labels))
        self.assertRefetched(target, path, 1)

    def test_damaged_first_block_is_found_before_the_head(self):
        # The first block is read and verified before the head is sent, so a
        # full GET still gets a complete, correct answer from the origin.
        path = "/disk/blocks/first"
        target, body, obj = self.stored_big(path)
        self.damage_block(obj, 0)
        r, complete = fetch_partial(self.port, target)
        self.assertNoDamagedByte(r, body, 0, "full GET with a damaged first block")
        self.assertTrue(complete, "the response was cut short: the first block was checked too late")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body == body)
        self.assertNotEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(path), 2)
        wait_stored(self.port, target)
        self.fetch_ok(target, path, self.SIZE, "HIT")

    def test_damage_to_a_body_already_trusted_is_found(self):
        # verify = "first_read": once a whole read has checked a body (two
        # seconds after its file last changed), hits send it from the page
        # cache without hashing. Damaging the file moves its ctime, so the
        # next hit checks it again and sends no damaged byte.
        path = "/disk/blocks/trusted"
        target, body, obj = self.stored_big(path)
        time.sleep(2.1)
        for _ in range(3):  # the first of these checks and trusts it; the others are sent from the file
            self.fetch_ok(target, path, self.SIZE, "HIT")
        self.damage_block(obj, self.DAMAGED)
        r, complete = fetch_partial(self.port, target)
        self.assertNoDamagedByte(r, body, 0, "full GET of a trusted body damaged since")
        self.assertFalse(complete and r.header("X-Cache") == "HIT",
                         "a damaged entry was served as a complete HIT")
        self.assertRefetched(target, path, 1)



class DiskEveryReadIntegrityTest(DiskBlockIntegrityTest):
    """The same attacks with storage.disk.verify = "every_read": each hit
    reads and hashes every block it sends."""

    @classmethod
    def relay_config(cls):
        config = super().relay_config()
        config["storage"]["disk"]["verify"] = "every_read"
        return config

class TierRestartTest(DiskTestCase):
    STORAGE_EXTRA = {"tier": "memory+disk"}

    def test_memory_disk_tier_hits_after_restart(self):
        path, size = "/tier/restart", 40_000
        target = cached_target(path, size)
        self.fill_and_wait(target, path, size)
        self.fetch_ok(target, path, size, "HIT")
        restart_relay(self.relay)
        # The memory level starts empty; the disk level answers (and refills it).
        self.fetch_ok(target, path, size, "HIT")
        self.fetch_ok(target, path, size, "HIT")
        self.assertEqual(self.origin.count(path), 1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not files_under(self.cache_dir / "meta"):
            time.sleep(0.05)
        self.assertTrue(files_under(self.cache_dir / "meta"), "nothing written to the disk level")
