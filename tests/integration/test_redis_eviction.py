"""A Redis that evicts keys regardless of their TTL (maxmemory-policy
allkeys-*, or an operator's DEL) may drop some chunks of a stored body and
keep its metadata. relay must find that out before it sends the head: the
request becomes a miss, answered whole from the origin, never a body cut at
a chunk boundary. relay warns at start about such a policy."""
import contextlib
import unittest

from harness import RedisRelayCase, expected_body, wait_stored, wait_until

CHUNK = 4096


def target(path, size):
    return "%s?size=%d&cc=max-age%%3D600" % (path, size)


@contextlib.contextmanager
def evicting(case, policy):
    """case.redis as a 2 MiB Redis with `policy` for the block, which must make it evict."""
    case.redis.command("CONFIG", "SET", "maxmemory-policy", policy)
    case.redis.command("CONFIG", "SET", "maxmemory", str(2 * 1024 * 1024))
    try:
        yield
        info = case.redis.command("INFO", "stats")
        info = info.decode() if isinstance(info, bytes) else info
        evicted = int(dict(line.split(":", 1) for line in info.split("\r\n") if ":" in line).get("evicted_keys", 0))
        case.assertGreater(evicted, 0, "the run must have made Redis evict")
    finally:
        case.redis.command("CONFIG", "SET", "maxmemory", "0")
        case.redis.command("CONFIG", "SET", "maxmemory-policy", "noeviction")


class RedisEvictedChunksTest(RedisRelayCase):
    REDIS_STORAGE = {"chunk_size": "4KiB", "key_prefix": "ev:"}

    def chunk_keys(self):
        keys = self.redis.command("KEYS", "ev:b:*")
        return sorted(k.decode() if isinstance(k, bytes) else k for k in keys)

    def test_an_entry_missing_a_chunk_is_a_miss_not_a_cut_body(self):
        self.redis.command("FLUSHALL")  # only this entry's chunks from here on
        size = 10 * CHUNK + 123
        url = target("/evict/one", size)
        self.assertXCache(self.get(url), "MISS")
        wait_stored(self.port, url)
        keys = self.chunk_keys()
        self.assertEqual(len(keys), 11, keys)
        self.assertEqual(self.redis.command("DEL", keys[5]), 1)  # one from the middle
        r = self.get(url)
        self.assertEqual(r.status, 200)
        self.assertNotEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(r.body, expected_body("/evict/one", size))
        self.assertEqual(self.origin.count("/evict/one"), 2)
        # Stored again, whole: the next one is a hit.
        hit = wait_stored(self.port, url)
        self.assertEqual(hit.body, expected_body("/evict/one", size))

    def test_allkeys_random_under_memory_pressure_never_cuts_a_body(self):
        with evicting(self, "allkeys-random"):
            # About 1.5 MiB of bodies in 4 KiB chunks against a 2 MiB Redis.
            stored = {"/lru/%d" % i: 12 * CHUNK + 17 * i for i in range(32)}
            for path, size in stored.items():
                self.check(path, size)
            for _ in range(3):
                # HEAD reads the metadata only; then new objects push Redis
                # over maxmemory and it evicts keys at random, chunks of
                # entries whose metadata stays among them.
                for path, size in stored.items():
                    self.assertEqual(self.request("HEAD", target(path, size)).status, 200)
                for i in range(16):
                    self.check("/lru/pressure/%d" % i, 12 * CHUNK)
                for path, size in stored.items():
                    self.check(path, size)
            # A relay starting against such a Redis says what it costs.
            second = self.make_relay({"storage": {"backend": "redis", "redis": {"url": self.redis.url}}},
                                     name="second").start()
            try:
                wait_until(lambda: "evicts with maxmemory-policy allkeys-random" in second.logs(), 5,
                           what="the eviction policy warning")
            finally:
                second.stop()

    def check(self, path, size):
        r = self.get(target(path, size))
        self.assertEqual(r.status, 200, path)
        self.assertEqual(len(r.body), size, "%s cut at %d of %d bytes (X-Cache %s)"
                         % (path, len(r.body), size, r.header("X-Cache")))
        self.assertEqual(r.body, expected_body(path, size), path)


if __name__ == "__main__":
    unittest.main()
