"""Faults injected into real processes while relay serves: Redis killed and
frozen under steady load, a disk store on a file system that fills up, relay
killed mid-fill, an origin that resets or hangs mid-body, and file
descriptors running out. Each test states what a client may see: nothing
failed, or exactly the failure the fault forces; and how soon relay is back
to normal. The stall a fault causes is printed with the test's output."""
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from harness import (HOST, RedisRelayCase, RedisServer, RelayTestCase, expected_body, files_under, get, kill_relay,
                     redis_server_bin, restart_relay, target_for, wait_stored, wait_until)
from client import RawConn


def report(what, **figures):
    print("  [fault] %s: %s" % (what, ", ".join("%s=%s" % kv for kv in figures.items())), file=sys.stderr)


class SteadyLoad:
    """`clients` threads requesting `targets` round-robin until stop(); every
    answer is checked against the origin's body for it."""

    def __init__(self, port, targets, clients=4, timeout=10):
        self.port, self.targets, self.clients, self.timeout = port, targets, clients, timeout
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.failures, self.requests, self.slowest = [], 0, 0.0
        self.hits = []  # monotonic times of HIT answers
        self.threads = []

    def _run(self, offset):
        i = offset
        while not self.stopping.is_set():
            target, path, size = self.targets[i % len(self.targets)]
            i += 1
            t0 = time.monotonic()
            try:
                r = get(self.port, target, timeout=self.timeout)
                ok = r.status == 200 and r.body == expected_body(path, size)
                why = None if ok else "status %d, %d bytes" % (r.status, len(r.body))
            except OSError as e:
                r, why = None, repr(e)
            took = time.monotonic() - t0
            with self.lock:
                self.requests += 1
                self.slowest = max(self.slowest, took)
                if why:
                    self.failures.append("%s: %s" % (target, why))
                elif r.header("X-Cache") == "HIT":
                    self.hits.append(time.monotonic())

    def start(self):
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(self.clients)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.timeout + 5)

    def first_hit_after(self, t, within):
        """Seconds from t to the first HIT after it, waiting up to `within`."""
        deadline = time.monotonic() + within + 1
        while time.monotonic() < deadline:
            with self.lock:
                later = [h for h in self.hits if h > t]
            if later:
                return later[0] - t
            time.sleep(0.02)
        return None


def cached(path, size):
    return (target_for(path, size=size, cc="max-age=600"), path, size)


class RedisFaultTest(RedisRelayCase):
    """Redis SIGKILLed, then SIGSTOPped for 3 s, under steady load."""
    REDIS_STORAGE = {"key_prefix": "faults:", "connect_timeout": "500ms", "command_timeout": "500ms"}

    def test_killed_and_frozen_redis_cost_hits_only_and_hits_return_within_3s(self):
        targets = [cached("/faults/redis/%d" % i, 8_000 + 1_000 * i) for i in range(4)]
        for target, _, _ in targets:
            self.get(target)
            wait_stored(self.port, target)
        load = SteadyLoad(self.port, targets).start()
        try:
            time.sleep(1.0)
            self.redis.kill()
            killed = time.monotonic()
            time.sleep(2.0)
            self.redis.start()
            back = time.monotonic()
            after_kill = load.first_hit_after(back, within=3.0)
            time.sleep(0.5)
            with load.lock:
                slowest_kill, load.slowest = load.slowest, 0.0
            self.redis.signal(signal.SIGSTOP)
            time.sleep(3.0)
            self.redis.signal(signal.SIGCONT)
            thawed = time.monotonic()
            after_freeze = load.first_hit_after(thawed, within=3.0)
            time.sleep(0.5)
        finally:
            self.redis.signal(signal.SIGCONT)
            load.stop()
        report("redis SIGKILL 2 s + SIGSTOP 3 s", requests=load.requests, failed=len(load.failures),
               slowest_during_kill="%.3fs" % slowest_kill, slowest_during_freeze="%.3fs" % load.slowest,
               first_hit_after_restart="%ss" % (after_kill and "%.2f" % after_kill),
               first_hit_after_sigcont="%ss" % (after_freeze and "%.2f" % after_freeze),
               down_for="%.1fs" % (back - killed))
        self.assertEqual(load.failures[:5], [], "%d of %d requests failed" % (len(load.failures), load.requests))
        self.assertGreater(load.requests, 100)
        self.assertIsNotNone(after_kill, "no HIT within 3 s of Redis restarting")
        self.assertIsNotNone(after_freeze, "no HIT within 3 s of Redis thawing")
        # A request waits at most for a command timeout (500 ms) and a connect.
        self.assertLess(max(slowest_kill, load.slowest), 2.5, "a request stalled too long")


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("mount"),
                     "needs root to mount a small tmpfs for the disk store (CI runs as root)")
class DiskFullTest(RelayTestCase):
    """The disk store on a 24 MiB tmpfs, max_size far above it: min_free_space
    holds, eviction makes room, nothing fails; a file system filled by
    someone else makes relay pass through until space comes back."""
    START_RELAY = False
    MIN_FREE = 6 * 1024 * 1024

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mount = cls.workdir / "small-fs"
        cls.mount.mkdir()
        cls.mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(cls.mount)],
                                     capture_output=True).returncode == 0
        if not cls.mounted:
            cls.tearDownClass()
            raise unittest.SkipTest("mount -t tmpfs failed (a container without CAP_SYS_ADMIN?)")
        try:
            cls.relay = cls.make_relay({"storage": {"backend": "disk", "disk": {
                "path": str(cls.mount / "cache"), "max_size": "1GiB",
                "min_free_space": str(cls.MIN_FREE)}}}).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "relay", None):
            cls.relay.stop()
            cls.relay = None
        if getattr(cls, "mounted", False):
            subprocess.run(["umount", "-l", str(cls.mount)], capture_output=True)
        super().tearDownClass()

    def free(self):
        st = os.statvfs(self.mount)
        return st.f_bavail * st.f_frsize

    def test_a_filling_file_system_keeps_min_free_space_and_evicts(self):
        lowest, failures = self.free(), []
        objects = [cached("/faults/disk/%d" % i, 1024 * 1024 + i) for i in range(40)]  # 40 MiB through 24
        for target, path, size in objects:
            for _ in range(2):
                r = self.get(target, timeout=20)
                if r.status != 200 or r.body != expected_body(path, size):
                    failures.append(target)
                lowest = min(lowest, self.free())
        last_target = objects[-1][0]
        wait_stored(self.port, last_target)  # stored after 40 MiB went through 24: older ones made room
        report("disk on a 24 MiB tmpfs", objects=len(objects), lowest_free_mib="%.1f" % (lowest / 2**20),
               min_free_space_mib=self.MIN_FREE // 2**20)
        self.assertEqual(failures, [])
        # min_free_space, less what one body in flight may count twice.
        self.assertGreaterEqual(lowest, self.MIN_FREE - 1024 * 1024)

        # Someone else fills the file system: relay stores nothing, fails nothing.
        filler = self.mount / "filler"
        with open(filler, "wb") as f:
            try:
                while self.free() > 2 * 1024 * 1024:
                    f.write(b"\0" * (1024 * 1024))
                    f.flush()
            except OSError:
                pass  # ENOSPC: full
        try:
            fresh = [cached("/faults/disk/full/%d" % i, 300_000) for i in range(5)]
            for target, path, size in fresh:
                r = self.get(target, timeout=20)
                self.assertEqual((r.status, r.body == expected_body(path, size)), (200, True), target)
        finally:
            filler.unlink()
        # Space is back: the next miss is stored again.
        target, path, size = cached("/faults/disk/after", 200_000)
        self.assertEqual(self.get(target).status, 200)
        wait_stored(self.port, target)


class RelayKilledMidFillTest(RelayTestCase):
    """kill -9 while bodies stream into the store (disk, and Redis when
    installed), restart on the same store: every body served afterwards is
    byte-exact and the fill's debris is gone."""
    START_RELAY = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = None
        if redis_server_bin():
            cls.redis = RedisServer(cls.workdir).start()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "redis", None):
            cls.redis.stop()
        super().tearDownClass()

    def kill_mid_fills(self, relay, prefix, after_restart=lambda: None):
        slow = [(target_for("%s/%d" % (prefix, i), size=400_000, cc="max-age=600", drip=0.02, drip_size=8192),
                 "%s/%d" % (prefix, i), 400_000) for i in range(3)]
        conns = []
        for target, _, _ in slow:
            c = RawConn(relay.port, timeout=10)
            c.request("GET", target)
            conns.append(c)
        time.sleep(0.4)  # a few chunks of each are in the store
        kill_relay(relay)
        for c in conns:
            c.close()
        restart_relay(relay)
        after_restart()
        for target, path, size in slow:
            for _ in range(2):
                r = get(relay.port, target, timeout=30)
                self.assertEqual(r.status, 200)
                self.assertTrue(r.body == expected_body(path, size), "%s: not byte-exact after restart" % target)
        return slow

    def test_disk(self):
        cache_dir = self.workdir / "killed-disk"
        relay = self.make_relay({"storage": {"backend": "disk", "disk": {"path": str(cache_dir),
                                                                          "min_free_space": "0"}}},
                                name="relay-disk").start()
        self.relay = relay
        try:
            def no_debris():
                # The killed fills' temporary files are gone once relay listens again.
                self.assertEqual(list(files_under(cache_dir / "tmp")), [], "fill debris left in tmp/")
            self.kill_mid_fills(relay, "/faults/kill/disk", after_restart=no_debris)
        finally:
            relay.stop()
            self.relay = None

    def test_redis(self):
        if not self.redis:
            self.skipTest("redis-server is not installed")
        # The killed instance's fleet lock outlives it (until max_fill_age):
        # the restarted one waits follower_timeout for it, then fetches.
        # Shortened here; a dead holder's lock is issue 18's to shorten.
        relay = self.make_relay({"storage": {"backend": "redis", "redis": {
            "url": self.redis.url, "key_prefix": "killed:"}},
            "cache": {"coalesce": {"follower_timeout": "2s"}}}, name="relay-redis").start()
        self.relay = relay
        try:
            self.kill_mid_fills(relay, "/faults/kill/redis")
            # A fill's announcement (f:) dies with its writer's lease (3 s).
            wait_until(lambda: not self.redis.command("KEYS", "killed:f:*"), 5, interval=0.1,
                       what="the killed fills' announcements to expire")
        finally:
            relay.stop()
            self.relay = None


class OriginFaultTest(RelayTestCase):
    """An origin that resets mid-body or goes silent after the head."""
    RELAY_CONFIG = {"upstream": {"idle_timeout": "1s"},
                    "cache": {"stale_if_error": "1h", "coalesce": {"follower_timeout": "10s"}}}

    def truncated(self, target, size):
        """Reads a response the client must see cut: (status, bytes, ended cleanly)."""
        with RawConn(self.port, timeout=10) as c:
            c.request("GET", target)
            head = c.read_head()
            body = bytearray()
            try:
                c.read_to_eof(sink=body.extend, timeout=10)
            except OSError:
                pass
            return head, len(body)

    def test_a_reset_mid_body_is_a_cut_response_for_everyone_and_never_stored(self):
        path, size = "/faults/reset", 200_000
        target = target_for(path, size=size, cc="max-age=600", abort=50_000, drip=0.05, drip_size=10_000)
        results = []
        threads = [threading.Thread(target=lambda: results.append(self.truncated(target, size))) for _ in range(4)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(20)
        self.assertEqual(len(results), 4)
        for head, got in results:
            self.assertLess(got, size, "a cut body must not look complete")
        self.assertEqual(self.origin.count(path), 1, "followers shared the one fetch")
        r = self.get(target, headers={"Cache-Control": "only-if-cached"})
        self.assertEqual(r.status, 504, "the partial body was stored")
        self.truncated(target, size)  # a later request goes to the origin again
        self.assertEqual(self.origin.count(path), 2)

    def test_a_silent_origin_times_out_and_stale_if_error_serves_the_stored_copy(self):
        path = "/faults/hang"
        fresh_for_1s = [["Cache-Control", "max-age=1"]]
        self.script(path, {"headers": fresh_for_1s, "size": 5000},
                    {"headers": fresh_for_1s, "size": 5000, "body_delay": 30})
        first = self.get(path)
        self.assertEqual(first.status, 200)
        wait_stored(self.port, path)
        time.sleep(1.2)  # stale now
        t0 = time.monotonic()
        r = self.get(path, timeout=20)
        took = time.monotonic() - t0
        report("origin silent after the head", answered_in="%.2fs" % took, x_cache=r.header("X-Cache"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, first.body)
        self.assertEqual(r.header("X-Cache"), "STALE")
        self.assertLess(took, 5.0, "upstream.idle_timeout (1 s) did not fire")


class FdExhaustionTest(RelayTestCase):
    """relay under RLIMIT_NOFILE 64: clients take every descriptor, relay keeps
    serving the connections it has, backs off on accept without spinning,
    and takes new connections once descriptors are free again."""
    START_RELAY = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            # UBSan's vptr check tests memory with a pipe(), which fails with
            # every descriptor taken: under UBSan it would report every
            # virtual call of the exhausted moments as invalid. Not relay's.
            suppressions = cls.workdir / "ubsan-fd.supp"
            suppressions.write_text("vptr_check:*\n")
            ubsan = os.environ.get("UBSAN_OPTIONS", "")
            cls.relay = cls.make_relay({"server": {"threads": 1}}, env={
                "UBSAN_OPTIONS": (ubsan + ":" if ubsan else "") + "suppressions=%s" % suppressions}).start()
            # Lowered on the running process: start-up (the thread pools,
            # the store) had what it needed.
            cls.limited = subprocess.run(["prlimit", "--pid", str(cls.relay.pid), "--nofile=64:64"],
                                         capture_output=True).returncode == 0
        except BaseException:
            cls.tearDownClass()
            raise

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.relay.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_out_of_descriptors_existing_connections_go_on_and_accept_recovers(self):
        if not self.limited:
            self.skipTest("prlimit could not lower relay's RLIMIT_NOFILE")
        target, path, size = cached("/faults/fd", 2000)
        keeper = RawConn(self.port, timeout=5)
        keeper.request("GET", target)
        self.assertEqual(keeper.read_response().status, 200)
        hogs = []
        try:
            for _ in range(120):  # well past 64: the rest wait in the listen backlog
                s = socket.create_connection((HOST, self.port), timeout=2)
                hogs.append(s)
            time.sleep(0.5)
            cpu0 = self.cpu_seconds()
            time.sleep(2.0)
            spinning = self.cpu_seconds() - cpu0
            # The connection relay already has is served as before.
            keeper.request("GET", target)
            r = keeper.read_response()
            self.assertEqual((r.status, r.body == expected_body(path, size)), (200, True))
        finally:
            for s in hogs:
                s.close()
        report("out of descriptors", relay_cpu_over_2s="%.2fs" % spinning)
        self.assertLess(spinning, 0.5, "relay busy-loops on accept while out of descriptors")
        # Descriptors free again: new connections are taken.
        wait_until(lambda: get(self.port, target, timeout=2).status == 200, 10, interval=0.2,
                   what="a new connection to be served")
        logs = self.relay.logs(200)
        self.assertIn("out of file descriptors", logs, "the shortage was not logged")
        self.assertLessEqual(logs.count("accept failed"), 2, "every failed accept was logged")
        self.assertIn("accepting again after", logs)
        keeper.close()
