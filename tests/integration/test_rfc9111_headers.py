"""The Cache-Status response field (RFC 9211) relay adds to every response:
its structure for hits, misses, bypasses and client-forced fetches, the
configurable cache name, and an upstream cache's entry kept in front of
relay's. Parameters are parsed (client.parse_cache_status), so only the
cache name's position is assumed."""
import unittest

from harness import RelayTestCase, free_port, target_for as T


class CacheStatusTest(RelayTestCase):

    def test_miss_then_hit(self):
        t = T("/cs/basic", cc="max-age=60")
        first, second = self.get(t), self.get(t)
        self.assertCacheStatus(first, fwd="uri-miss", fwd_status=200, stored=True, hit=self.ABSENT)
        self.assertCacheStatus(second, hit=True, fwd=self.ABSENT, fwd_status=self.ABSENT,
                               stored=self.ABSENT, ttl=(55, 60))
        self.assertEqual(len(second.cache_status()), 1, second.header("Cache-Status"))

    def test_origin_status_is_reported(self):
        t = T("/cs/404", status=404, cc="max-age=60")
        self.assertCacheStatus(self.get(t), fwd="uri-miss", fwd_status=404, stored=True)
        self.assertCacheStatus(self.get(t), hit=True)

    def test_uncacheable_response_is_not_marked_stored(self):
        r = self.get(T("/cs/nostore", cc="no-store"))
        self.assertCacheStatus(r, fwd="uri-miss", fwd_status=200, stored=self.ABSENT,
                               hit=self.ABSENT)

    def test_unsafe_method(self):
        r = self.request("POST", "/cs/post", body=b"x")
        self.assertCacheStatus(r, fwd="method", hit=self.ABSENT, stored=self.ABSENT)

    def test_request_no_store(self):
        r = self.get(T("/cs/reqnostore", cc="max-age=60"), headers={"Cache-Control": "no-store"})
        self.assertCacheStatus(r, fwd="bypass", hit=self.ABSENT, stored=self.ABSENT)

    def test_request_no_cache(self):
        t = T("/cs/reqnocache", cc="max-age=60")
        self.get(t)
        r = self.get(t, headers={"Cache-Control": "no-cache"})
        self.assertCacheStatus(r, fwd="request", fwd_status=200, hit=self.ABSENT)

    def test_every_response_carries_cache_status(self):
        t = T("/cs/every", cc="max-age=60", etagv='"e"', size=100)
        responses = {"miss": self.get(t), "hit": self.get(t),
                     "304": self.get(t, headers={"If-None-Match": '"e"'}),
                     "206": self.get(t, headers={"Range": "bytes=0-9"}),
                     "416": self.get(t, headers={"Range": "bytes=500-"}),
                     "post": self.request("POST", "/cs/every-post", body=b"x"),
                     "only-if-cached 504": self.get("/cs/every-none",
                                                    headers={"Cache-Control": "only-if-cached"})}
        with self.raw() as c:
            c.request("HEAD", t)
            responses["head"] = c.read_response(method="HEAD")
        for what, r in responses.items():
            with self.subTest(what=what):
                self.assertEqual(len(r.cache_status()), 1, r.header("Cache-Status"))
                self.assertCacheStatus(r)

    def test_upstream_cache_status_is_kept_in_front(self):
        # RFC 9211 §2: members are in order, the cache nearest the user last.
        t = T("/cs/upstream", cc="max-age=60", hdr="Cache-Status: upstream-cdn; hit; ttl=30")
        for want in ("uri-miss", None):
            r = self.get(t)
            entries = r.cache_status()
            self.assertEqual(len(entries), 2, r.header("Cache-Status"))
            self.assertEqual(entries[0], ("upstream-cdn", {"hit": True, "ttl": 30}))
            if want:
                self.assertCacheStatus(r, fwd=want)
            else:
                self.assertCacheStatus(r, hit=True)


class CacheStatusNameTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"status_name": "edge-7"}}

    def test_configured_cache_name(self):
        t = T("/csn/a", cc="max-age=60")
        self.assertCacheStatus(self.get(t), name="edge-7", fwd="uri-miss")
        self.assertCacheStatus(self.get(t), name="edge-7", hit=True)


class CacheStatusOnErrorsTest(RelayTestCase):
    @classmethod
    def relay_config(cls):
        dead = "http://127.0.0.1:%d" % free_port()  # nothing listens there
        return {"upstream": {"url": dead, "connect_timeout": "1s"}}

    def test_502_carries_cache_status(self):
        r = self.get("/cse/x")
        self.assertEqual(r.status, 502)
        params = self.assertCacheStatus(r, hit=self.ABSENT, stored=self.ABSENT)
        self.assertIn("fwd", params)


if __name__ == "__main__":
    unittest.main()
