"""Targeted cache-control fields (RFC 9213): CDN-Cache-Control (or the
configured list, first present wins) replaces Cache-Control and Expires for
relay's decisions, is stripped from responses by default, and Cache-Control
reaches the client unchanged."""
import time
import unittest

from harness import RelayTestCase, target_for as T


class TargetedTest(RelayTestCase):

    def test_cdn_cache_control_overrides_cache_control(self):
        t = T("/tg/override", cc="no-store", hdr="CDN-Cache-Control: max-age=60")
        first, second = self.get(t), self.get(t)
        self.assertXCache(first, "MISS")
        self.assertCacheStatus(first, stored=True)
        self.assertXCache(second, "HIT")
        for r in (first, second):
            self.assertEqual(r.header("Cache-Control"), "no-store")
            self.assertFalse(r.has("CDN-Cache-Control"), "CDN-Cache-Control not stripped")
        self.assertEqual(self.origin.count("/tg/override"), 1)

    def test_cdn_no_store_prevents_storing(self):
        t = T("/tg/nostore", cc="max-age=60", hdr="CDN-Cache-Control: no-store")
        for _ in range(2):
            r = self.get(t)
            self.assertXCache(r, "BYPASS")
            self.assertEqual(r.header("Cache-Control"), "max-age=60")
            self.assertFalse(r.has("CDN-Cache-Control"))
        self.assertEqual(self.origin.count("/tg/nostore"), 2)

    def test_cdn_max_age_beats_a_longer_cache_control_and_expires(self):
        t = T("/tg/short", cc="max-age=3600", expires=3600, hdr="CDN-Cache-Control: max-age=1")
        self.assertXCache(self.get(t), "MISS")
        time.sleep(1.3)
        self.assertXCache(self.get(t), "EXPIRED")
        self.assertEqual(self.origin.count("/tg/short"), 2)


class TargetedFieldListTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"targeted_fields": ["Relay-Cache-Control", "CDN-Cache-Control"]}}

    def test_first_listed_field_wins(self):
        t = T("/tgl/first", cc="no-store",
              hdr=["Relay-Cache-Control: max-age=60", "CDN-Cache-Control: no-store"])
        first, second = self.get(t), self.get(t)
        self.assertXCache(first, "MISS")
        self.assertXCache(second, "HIT")
        for r in (first, second):
            self.assertEqual(r.header("Cache-Control"), "no-store")
            self.assertFalse(r.has("Relay-Cache-Control"))
            self.assertFalse(r.has("CDN-Cache-Control"))
        self.assertEqual(self.origin.count("/tgl/first"), 1)

    def test_next_field_used_when_the_first_is_absent(self):
        t = T("/tgl/second/nostore", cc="max-age=60", hdr="CDN-Cache-Control: no-store")
        for _ in range(2):
            self.assertXCache(self.get(t), "BYPASS")
        self.assertEqual(self.origin.count("/tgl/second/nostore"), 2)
        t = T("/tgl/second/store", cc="no-store", hdr="CDN-Cache-Control: max-age=60")
        self.assertXCache(self.get(t), "MISS")
        self.assertXCache(self.get(t), "HIT")
        self.assertEqual(self.origin.count("/tgl/second/store"), 1)


class TargetedNoStripTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"strip_targeted_fields": False}}

    def test_targeted_field_is_forwarded(self):
        t = T("/tgn/a", cc="no-store", hdr="CDN-Cache-Control: max-age=60")
        for want in ("MISS", "HIT"):
            r = self.get(t)
            self.assertXCache(r, want)
            self.assertEqual(r.header("CDN-Cache-Control"), "max-age=60")
            self.assertEqual(r.header("Cache-Control"), "no-store")


if __name__ == "__main__":
    unittest.main()
