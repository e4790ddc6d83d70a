"""Scheduled maintenance: the disk sweep removes entries whose keep time has
passed (and abandoned tmp/ files) without anyone requesting them; with
[maintenance] lock = "redis" each round takes a lock per scope (host name +
cache path) in a real redis-server, so relays with their own directories
each sweep theirs, and an instance that finds the round taken skips it."""
import os
import time

from client import metric
from harness import RelayTestCase, files_under, merge, wait_stored, wait_until
from test_storage_disk import cached_target, disk_storage
from test_storage_redis import RedisRelayTestCase

TASK = "disk_sweep"


def maintenance(interval="1s", lock="none"):
    return {"maintenance": {"interval": interval, "lock": lock}}


def runs(relay, result):
    return metric(relay.metrics(), "relay_maintenance_runs_total", task=TASK, result=result) or 0


def short_lived_target(path, size):
    # keep_for = max-age (1 s) + no stale windows + keep_time 0.
    return "%s?size=%d&cc=max-age%%3D1" % (path, size)


def age_file(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


class DiskSweepTest(RelayTestCase):
    @classmethod
    def relay_config(cls):
        cls.cache_dir = cls.workdir / "cache"
        config = disk_storage(cls.cache_dir, keep_time="0s")
        config.update(maintenance("1s"))
        return config

    def test_expired_entry_and_old_tmp_file_leave_the_disk_unrequested(self):
        meta, objects = self.cache_dir / "meta", self.cache_dir / "objects"
        live_path, short_path = "/sweep/live", "/sweep/short"
        live = cached_target(live_path, 30_000)
        r = self.get(live)
        self.assertEqual(r.status, 200)
        wait_stored(self.port, live)
        r = self.get(short_lived_target(short_path, 40_000))
        self.assertEqual(r.status, 200)
        # Watched on disk, never looked up again: a lookup would drop it lazily.
        wait_until(lambda: len(files_under(meta)) == 2, 5, what="both entries on disk")
        self.assertEqual(len(files_under(objects)), 2)
        abandoned, fresh = self.cache_dir / "tmp" / "b.abandoned", self.cache_dir / "tmp" / "b.writing"
        abandoned.write_bytes(b"x" * 5000)
        fresh.write_bytes(b"still being written")
        age_file(abandoned, 2 * 3600)

        # The sweep unlinks a record and then its body: wait for both.
        wait_until(lambda: len(files_under(meta)) == 1 and len(files_under(objects)) == 1
                   and not abandoned.exists(), 8,
                   what="the sweep to remove the expired entry, its body and the abandoned tmp file")
        self.assertTrue(fresh.exists(), "a fresh tmp/ file was removed")
        self.assertEqual(self.origin.count(short_path), 1)
        text = self.relay.metrics()
        self.assertGreaterEqual(metric(text, "relay_maintenance_runs_total", task=TASK, result="ran"), 1)
        self.assertEqual(metric(text, "relay_maintenance_runs_total", task=TASK, result="failed"), 0)
        self.assertGreaterEqual(metric(text, "relay_maintenance_removed_total", task=TASK), 2)
        r = self.get(live)
        self.assertXCache(r, "HIT")
        self.assertIn("maintenance: disk_sweep", self.relay.logs(200))


class SweepLockTest(RedisRelayTestCase):
    """Two relays, one redis-server, a cache directory each."""

    RELAYS = 2

    @classmethod
    def make_relay(cls, config=None, name="relay", **kw):
        # The base class hands over Redis storage settings: their [storage.redis]
        # is kept for the round lock, the cache itself goes on disk.
        own = merge(disk_storage(cls.workdir / name / "cache"), maintenance("1s", "redis"))
        return super().make_relay(merge(config or {}, own), name=name, **kw)

    def cache_dir_of(self, name):
        return str((self.workdir / name / "cache").resolve())

    def lock_keys(self):
        return sorted(self.redis.command("KEYS", self.prefix + "lock:maintenance:%s:*" % TASK) or [])

    def test_each_relay_sweeps_its_own_directory_and_skips_a_taken_round(self):
        first, second = self.relays
        wait_until(lambda: runs(first, "ran") >= 2 and runs(second, "ran") >= 2, 8,
                   what="two rounds on each relay")
        # Separate directories are separate scopes: nobody skipped anything.
        self.assertEqual(runs(first, "skipped"), 0)
        self.assertEqual(runs(second, "skipped"), 0)
        keys = self.lock_keys()
        self.assertEqual(len(keys), 2, keys)
        for name in ("relay1", "relay2"):
            mine = [k for k in keys if k.endswith(self.cache_dir_of(name))]
            self.assertEqual(len(mine), 1, "no lock scoped to %s's directory in %r" % (name, keys))

        # Now another instance with first's scope holds the round (as a relay
        # on first's directory would): first must skip, second carry on. The
        # key is free between first's rounds (its lock lives 90% of the interval).
        key = next(k for k in keys if k.endswith(self.cache_dir_of("relay1")))
        wait_until(lambda: self.redis.command("SET", key, "another-instance", "NX", "PX", "6000") == "OK",
                   3, interval=0.005, what="the round lock between two of first's rounds")
        ran1, skipped1, ran2 = runs(first, "ran"), runs(first, "skipped"), runs(second, "ran")
        wait_until(lambda: runs(first, "skipped") >= skipped1 + 3, 6, what="first to skip three rounds")
        self.assertLessEqual(runs(first, "ran"), ran1 + 1)  # one round may have been under way
        self.assertGreaterEqual(runs(second, "ran"), ran2 + 2)
        self.assertEqual(self.redis.command("GET", key), "another-instance", "first released a lock it never held")

        self.redis.command("DEL", key)
        ran1 = runs(first, "ran")
        wait_until(lambda: runs(first, "ran") > ran1, 4, what="first to run again once the round is free")
