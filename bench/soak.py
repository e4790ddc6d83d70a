#!/usr/bin/env python3
"""Soak: mixed traffic against relay for a bounded time, per storage backend.

Traffic (clients threads, each request drawn at random):
  ~92%  GET of a Zipf-distributed key among --keys (sizes 1-48 KiB; a fifth
        of the keys stale-while-revalidate, a fifth Vary: Accept-Language)
    5%  GET of a key never seen before (a miss)
    1%  POST of a random body to /echo (checked: the origin saw it whole)
    2%  a byte Range of a Zipf key (checked: the right slice, or the whole)
  and every 5 s a purge of a Zipf key through the admin API, and with Redis a
  kill -9 and restart of redis-server every 20 s (at least twice).

Every body is checked against the origin's deterministic content for its
path. RSS is sampled every 10 s and printed every minute (and at the end).
A backend fails on any failed request, any wrong body, or RSS still growing
once the cache is full (last sample above the first full-cache one by more
than 10% + 8 MiB). The last line is "soak: N passed, N failed" (one per
backend). Loopback only; every loop is bounded by the deadline.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from harness import Origin, RedisServer, Relay, expected_body, metric, read_rss, redis_server_bin  # noqa: E402
from client import request  # noqa: E402

LANGS = ["en", "de", "fr"]
# Every request names this host, so a purge of http://soak.test/... meets what it stored.
SITE = {"Host": "soak.test"}


class Zipf:
    def __init__(self, n, s=1.1, seed=1):
        weights = [1 / (k ** s) for k in range(1, n + 1)]
        total = sum(weights)
        self.cumulative, acc = [], 0.0
        for w in weights:
            acc += w / total
            self.cumulative.append(acc)
        self.rng = random.Random(seed)

    def draw(self, rng):
        import bisect
        return min(bisect.bisect_left(self.cumulative, rng.random()), len(self.cumulative) - 1)


def key_target(k):
    size = 1024 + (k * 7919) % (47 * 1024)
    path = "/soak/k%d" % k
    params = ["size=%d" % size]
    if k % 5 == 1:
        params.append("cc=max-age%3D2%2C%20stale-while-revalidate%3D30")
    else:
        params.append("cc=max-age%3D60")
    if k % 5 == 2:
        params.append("hdr=Vary:Accept-Language")
    return path, size, path + "?" + "&".join(params)


class Soak:
    def __init__(self, relay, origin, redis, args):
        self.relay, self.origin, self.redis, self.args = relay, origin, redis, args
        self.zipf = Zipf(args.keys)
        self.lock = threading.Lock()
        self.counts = {"requests": 0, "failed": 0, "wrong": 0, "hits": 0, "purges": 0, "redis_restarts": 0}
        self.errors = []
        self.deadline = 0.0
        self.unique = 0

    def note(self, kind, detail):
        with self.lock:
            self.counts[kind] += 1
            if len(self.errors) < 10:
                self.errors.append(detail)

    def one(self, rng):
        roll = rng.random()
        port = self.relay.port
        if roll < 0.01:
            body = rng.randbytes(rng.randint(1, 64 * 1024))
            r = request(port, "POST", "/echo/soak", headers=dict(SITE), body=body, timeout=15)
            ok = r.status == 200 and json.loads(r.body)["body_sha256"] == hashlib.sha256(body).hexdigest()
            return r, ok
        if roll < 0.06:
            with self.lock:
                self.unique += 1
                n = self.unique
            path, size = "/soak/miss/%d" % n, 2048 + n % 8192
            r = request(port, "GET", "%s?size=%d&cc=max-age%%3D60" % (path, size), headers=dict(SITE), timeout=15)
            return r, r.status == 200 and r.body == expected_body(path, size)
        path, size, target = key_target(self.zipf.draw(rng))
        headers = dict(SITE, **{"Accept-Language": rng.choice(LANGS)})
        if roll < 0.08:
            first = rng.randrange(size)
            last = min(size - 1, first + rng.randint(0, 4096))
            headers["Range"] = "bytes=%d-%d" % (first, last)
            r = request(port, "GET", target, headers=headers, timeout=15)
            whole = expected_body(path, size)
            ok = (r.status == 206 and r.body == whole[first:last + 1]) or (r.status == 200 and r.body == whole)
            return r, ok
        r = request(port, "GET", target, headers=headers, timeout=15)
        return r, r.status == 200 and r.body == expected_body(path, size)

    def client(self, seed):
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            try:
                r, ok = self.one(rng)
            except (OSError, ValueError) as e:
                self.note("failed", repr(e))
                continue
            with self.lock:
                self.counts["requests"] += 1
                if r.header("X-Cache") == "HIT":
                    self.counts["hits"] += 1
            if not ok:
                self.note("wrong" if r.status in (200, 206) else "failed",
                          "status %d, %d bytes, X-Cache %s" % (r.status, len(r.body), r.header("X-Cache")))

    def chaos(self):
        rng = random.Random(7)
        next_purge = time.monotonic() + 5
        # Every 20 s, and at least twice however short the run.
        redis_every = min(20.0, (self.deadline - time.monotonic()) / 3)
        next_redis = time.monotonic() + redis_every
        while time.monotonic() < self.deadline:
            time.sleep(0.2)
            now = time.monotonic()
            if now >= next_purge:
                next_purge = now + 5
                _, _, target = key_target(self.zipf.draw(rng))
                try:
                    r = self.relay.admin("POST", "/purge", body=json.dumps(
                        {"url": "http://soak.test%s" % target}).encode())
                    if r.status != 200:
                        self.note("failed", "purge: status %d" % r.status)
                    with self.lock:
                        self.counts["purges"] += 1
                except OSError as e:
                    self.note("failed", "purge: %r" % e)
            if self.redis and now >= next_redis and now < self.deadline - 5:
                next_redis = now + redis_every
                self.redis.kill()
                time.sleep(0.5)
                self.redis.start()
                with self.lock:
                    self.counts["redis_restarts"] += 1

    def run(self, seconds, max_size):
        self.deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(self.args.clients)]
        threads.append(threading.Thread(target=self.chaos, daemon=True))
        for t in threads:
            t.start()
        samples, full_at = [], None
        start = time.monotonic()
        next_print = start + 60
        while time.monotonic() < self.deadline:
            time.sleep(min(10, max(0.1, self.deadline - time.monotonic())))
            rss = read_rss(self.relay.pid)["VmRSS"]
            try:
                size = metric(self.relay.metrics(), "relay_cache_size_bytes") or 0
            except OSError:
                size = 0
            samples.append((time.monotonic() - start, rss, size))
            if full_at is None and size >= 0.9 * max_size:
                full_at = len(samples) - 1
            if time.monotonic() >= next_print:
                next_print += 60
                self.print_line(samples[-1])
        for t in threads:
            t.join(20)
        self.print_line(samples[-1] if samples else (0, 0, 0))
        return samples, full_at

    def print_line(self, sample):
        t, rss, size = sample
        with self.lock:
            c = dict(self.counts)
        print("  %5.0fs  requests %d  hits %d  failed %d  wrong %d  purges %d  redis restarts %d  "
              "rss %.1f MiB  cache %.1f MiB" % (t, c["requests"], c["hits"], c["failed"], c["wrong"], c["purges"],
                                                c["redis_restarts"], rss / 2**20, size / 2**20), flush=True)


def run_backend(backend, seconds, args, workdir):
    print("== soak: %s, %d s, %d clients, %d keys" % (backend, seconds, args.clients, args.keys), flush=True)
    origin = Origin(workdir).start()
    redis = None
    max_size = args.max_size_mib * 2**20
    storage = {"backend": backend, "max_size": "%dMiB" % args.max_size_mib}
    if backend == "disk":
        storage["disk"] = {"path": str(workdir / "disk"), "max_size": "%dMiB" % args.max_size_mib,
                           "min_free_space": "0"}
    if backend == "redis":
        redis = RedisServer(workdir).start()
        storage["redis"] = {"url": redis.url, "key_prefix": "soak:", "command_timeout": "500ms"}
    relay = Relay(workdir, origin.url, config={
        "server": {"threads": 2},
        "storage": storage,
        "upstream": {"preserve_host": False},
        "log": {"access_log": "off", "level": "warn"},
    })
    try:
        relay.start()
        soak = Soak(relay, origin, redis, args)
        samples, full_at = soak.run(seconds, max_size)
        alive = relay.alive()
    finally:
        relay.stop()
        origin.stop()
        if redis:
            redis.stop()
    c = soak.counts
    problems = list(soak.errors)
    if not alive:
        problems.append("relay died")
    if c["failed"] or c["wrong"]:
        problems.append("%d failed, %d wrong bodies" % (c["failed"], c["wrong"]))
    if c["requests"] == 0:
        problems.append("no request completed")
    if full_at is not None and len(samples) - full_at >= 3:
        first, last = samples[full_at][1], samples[-1][1]
        if last > first * 1.10 + 8 * 2**20:
            problems.append("RSS grew from %.1f to %.1f MiB after the cache was full" % (first / 2**20, last / 2**20))
    verdict = "PASS" if not problems else "FAIL"
    print("%s  soak %s: %d requests, %d hits, %d failed, %d wrong bodies, RSS %.1f MiB at the end%s" % (
        verdict, backend, c["requests"], c["hits"], c["failed"], c["wrong"],
        (samples[-1][1] if samples else 0) / 2**20,
        "" if full_at is not None else " (the cache never filled: RSS growth not judged)"), flush=True)
    for p in problems:
        print("    " + p)
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", 600)),
                    help="total time, split over the backends (SOAK_SECONDS, default 600)")
    ap.add_argument("--backends", default=os.environ.get("SOAK_BACKENDS", "memory,disk,redis"))
    ap.add_argument("--clients", type=int, default=int(os.environ.get("SOAK_CLIENTS", 8)))
    ap.add_argument("--keys", type=int, default=int(os.environ.get("SOAK_KEYS", 3000)))
    ap.add_argument("--max-size-mib", type=int, default=int(os.environ.get("SOAK_MAX_SIZE_MIB", 16)))
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if "redis" in backends and not redis_server_bin():
        print("redis-server not installed: skipping the redis backend")
        backends.remove("redis")
    per = max(10, args.seconds // max(1, len(backends)))
    passed = failed = 0
    for backend in backends:
        workdir = Path(tempfile.mkdtemp(prefix="relay-soak-"))
        try:
            ok = run_backend(backend, per, args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        passed, failed = passed + ok, failed + (not ok)
    print("soak: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    sys.exit(main())
