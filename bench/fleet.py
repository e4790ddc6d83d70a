#!/usr/bin/env python3
"""A fleet of relays on one redis-server: what cold objects and hits cost
the origin and Redis, with N instances (default 6).

    python3 bench/fleet.py [--relays 6] [--objects 20] [--clients 5] [--relay build/relay]

For each scenario it prints the origin requests, the Redis commands per
client request (INFO commandstats, summed), and client latency (p50, p99).
Scenarios: cold objects whose origin drips the body over ~1.3 s with a
strong ETag (other instances stream the fill from Redis), the same with a
weak ETag (they wait for the commit), then hits on what was stored.
Bounded: every request has a 60 s timeout and each scenario runs once.
It uses the integration tests' harness (tests/integration) for processes.
"""
import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from client import RawConn  # noqa: E402
from harness import Origin, RedisServer, Relay, expected_body, target_for  # noqa: E402

SITE = {"Host": "fleet.bench.example"}
SIZE = 64 * 4096


def redis_calls(redis):
    """Commands Redis has executed since start (all kinds)."""
    info = redis.command("INFO", "commandstats")
    info = info.decode() if isinstance(info, bytes) else info
    total = 0
    for line in info.split("\r\n"):
        if line.startswith("cmdstat_") and "calls=" in line:
            total += int(line.split("calls=", 1)[1].split(",", 1)[0])
    return total


def fetch_all(jobs):
    """jobs: (port, target, path, size); returns (latencies, failures)."""
    latencies, failures = [], []
    lock = threading.Lock()

    def one(port, target, path, size):
        started = time.monotonic()
        try:
            with RawConn(port, timeout=60) as c:
                c.request("GET", target, headers=SITE)
                r = c.read_response()
            ok = r.status == 200 and r.body == expected_body(path, size)
        except Exception:  # counted as a failure
            ok = False
        with lock:
            latencies.append(time.monotonic() - started)
            if not ok:
                failures.append(path)
    threads = [threading.Thread(target=one, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return latencies, failures


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))] if values else float("nan")


def scenario(name, origin, redis, jobs, paths):
    before_origin = sum(origin.count(p) for p in paths)
    before_redis = redis_calls(redis)
    started = time.monotonic()
    latencies, failures = fetch_all(jobs)
    took = time.monotonic() - started
    origin_requests = sum(origin.count(p) for p in paths) - before_origin
    commands = redis_calls(redis) - before_redis
    print("%-34s %5d requests  %4d failed  origin %4d  redis %6d commands (%6.1f per request)  "
          "p50 %6.3f s  p99 %6.3f s  (%.1f s)"
          % (name, len(jobs), len(failures), origin_requests, commands, commands / max(1, len(jobs)),
             percentile(latencies, 50), percentile(latencies, 99), took))
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--relays", type=int, default=6)
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--clients", type=int, default=5, help="concurrent clients per object and relay")
    parser.add_argument("--relay", default=str(ROOT / "build" / "relay"))
    args = parser.parse_args()
    os.environ["RELAY_BIN"] = os.path.abspath(args.relay)

    work = Path(tempfile.mkdtemp(prefix="relay-fleet-"))
    origin = Origin(work).start()
    redis = RedisServer(work).start()
    relays = []
    try:
        for i in range(args.relays):
            d = work / ("relay%d" % i)
            d.mkdir()
            relays.append(Relay(d, origin.url, config={
                "storage": {"backend": "redis", "redis": {"url": redis.url, "key_prefix": "fleet:"}},
                "log": {"level": "warn"}}).start())
        print("fleet: %d relays, one redis-server, %d objects x %d clients per relay (%d requests per scenario)"
              % (args.relays, args.objects, args.clients, args.objects * args.clients * args.relays))
        failed = []
        stored = []
        for kind, validator in (("strong", {"etag": 1}), ("weak", {"etagv": 'W/"v1"'})):
            paths = ["/fleet/%s/%d" % (kind, i) for i in range(args.objects)]
            targets = {p: target_for(p, cc="max-age=600", size=SIZE, drip=0.02, drip_size=4096, **validator)
                       for p in paths}
            jobs = [(r.port, targets[p], p, SIZE) for p in paths for r in relays for _ in range(args.clients)]
            failed += scenario("cold, %s validator (dripped 1.3 s)" % kind, origin, redis, jobs, paths)
            stored += [(p, targets[p]) for p in paths]
        time.sleep(0.5)  # commits run after the last byte went out
        jobs = [(r.port, t, p, SIZE) for p, t in stored for r in relays]
        failed += scenario("hits (256 KiB, one chunk)", origin, redis, jobs, [p for p, _ in stored])
        return 1 if failed else 0
    finally:
        for r in relays:
            r.stop()
        redis.stop()
        origin.stop()


if __name__ == "__main__":
    sys.exit(main())
