"""[cache] max_object_size with zstd at rest ([storage] compression = "zstd"):
the limit counts the body's raw bytes, as the origin sends them, not the
compressed bytes kept. A highly compressible body one byte over the limit
(it would shrink to a few KiB) is not stored, whether the origin frames it
with Content-Length (refused up front) or chunked (given up mid-body); one
at or just under the limit is stored and served intact.

The bodies are origin.py's: a 64-byte pattern repeated, served as
application/octet-stream, which compression_types lists here so that it is
compressed."""
from client import metric
from harness import RelayTestCase, expected_body, target_for, wait_stored

LIMIT = 1024 * 1024  # max_object_size below
# (name, origin.py parameters, X-Cache of a body over the limit): one with
# Content-Length is known too large before it starts and never reaches the
# store; a chunked one starts as a store-bound fill and the store gives up
# once its raw bytes pass the limit. Both are misses.
FRAMINGS = (("content-length", {}, "MISS"), ("chunked", {"chunked": 1}, "MISS"))


class LimitCountsRawBytes:
    """Mixed into one RelayTestCase per backend (storage_config())."""

    @classmethod
    def relay_config(cls):
        storage = {"compression": "zstd", "compression_types": ["application/octet-stream"]}
        storage.update(cls.storage_config())
        return {"cache": {"max_object_size": "1MiB"}, "storage": storage}

    def fetch(self, path, size, framing, want_cache):
        target = target_for(path, cc="max-age=600", size=size, **framing)
        r = self.get(target)
        self.assertEqual(r.status, 200)
        self.assertXCache(r, want_cache)
        self.assertEqual(len(r.body), size, "body length of %s" % target)
        self.assertTrue(r.body == expected_body(path, size), "body of %s differs from the origin's" % target)
        self.last = r
        return target

    def raw_and_compressed(self):
        text = self.relay.metrics()
        return (metric(text, "relay_storage_compression_bytes_total", state="raw"),
                metric(text, "relay_storage_compression_bytes_total", state="compressed"))

    def test_limit_counts_raw_bytes_whatever_the_framing(self):
        raw_before, compressed_before = self.raw_and_compressed()
        self.assertIsNotNone(raw_before, 'relay_storage_compression_bytes_total{state="raw"} is not exported')
        stored_raw = 0
        for name, framing, over_cache in FRAMINGS:
            with self.subTest(framing=name):
                over_path = "/limit/%s/over" % name
                over = self.fetch(over_path, LIMIT + 1, framing, over_cache)
                if name == "content-length":  # known before the body: Cache-Status says so, and not "stored"
                    status = self.last.header("Cache-Status")
                    self.assertIn("fwd=uri-miss", status)
                    self.assertIn("detail=too-large", status)
                    self.assertNotIn("stored", status)
                # Fetched after the body over the limit, these are stored: had
                # the first been kept, it would be by the time they are.
                for label, size in (("under", LIMIT - 1), ("at", LIMIT)):
                    target = self.fetch("/limit/%s/%s" % (name, label), size, framing, "MISS")
                    hit = wait_stored(self.port, target)
                    self.assertTrue(hit.body == expected_body("/limit/%s/%s" % (name, label), size),
                                    "HIT body of %s differs" % target)
                    stored_raw += size
                cached = self.get(over, headers={"Cache-Control": "only-if-cached"})
                self.assertNotEqual(cached.header("X-Cache"), "HIT",
                                    "a body of max_object_size + 1 raw bytes was stored")
                self.fetch(over_path, LIMIT + 1, framing, over_cache)
                self.assertEqual(self.origin.count(over_path), 2)

        raw, compressed = self.raw_and_compressed()
        # Only the bodies within the limit were stored, and they were stored
        # compressed far below it: the one over it would have fitted easily
        # had compressed bytes been what the limit counted.
        self.assertEqual(raw - raw_before, stored_raw)
        self.assertLess(compressed - compressed_before, LIMIT // 20,
                        "the stored bodies were not compressed (%d bytes kept for %d raw)"
                        % (compressed - compressed_before, stored_raw))


class DiskLimitTest(LimitCountsRawBytes, RelayTestCase):
    @classmethod
    def storage_config(cls):
        return {"backend": "disk",
                "disk": {"path": str(cls.workdir / "cache"), "max_size": "256MiB", "min_free_space": "0"}}


class MemoryLimitTest(LimitCountsRawBytes, RelayTestCase):
    @classmethod
    def storage_config(cls):
        return {"backend": "memory", "max_size": "64MiB"}
