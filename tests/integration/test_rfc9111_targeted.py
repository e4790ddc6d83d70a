"""Targeted cache-control fields (RFC 9213): CDN-Cache-Control (or the
configured list, first present and valid wins) replaces Cache-Control and
Expires for relay's decisions; it is an RFC 8941 Dictionary, and an invalid
one is ignored whole. It is forwarded to clients by default (stripped with
strip_targeted_fields = true), and Cache-Control reaches the client
unchanged."""
import time
import unittest

from harness import RelayTestCase, target_for as T


class TargetedTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"strip_targeted_fields": True}}

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
    RELAY_CONFIG = {"cache": {"targeted_fields": ["Relay-Cache-Control", "CDN-Cache-Control"],
                              "strip_targeted_fields": True}}

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


class TargetedDefaultsTest(RelayTestCase):
    """The default configuration: CDN-Cache-Control parsed as a Structured
    Field (RFC 9213 §2.1) and forwarded downstream."""

    def assert_not_cached(self, path, target, n=2):
        for _ in range(n):
            self.assertNotEqual(self.get(target).header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(path), n)

    def test_targeted_field_is_forwarded_by_default(self):
        # Downstream CDNs read it too; RFC 9213 does not ask for removal.
        t = T("/tgd/forward", cc="no-store", hdr="CDN-Cache-Control: max-age=60")
        for want in ("MISS", "HIT"):
            r = self.get(t)
            self.assertXCache(r, want)
            self.assertEqual(r.header("CDN-Cache-Control"), "max-age=60")
            self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(self.origin.count("/tgd/forward"), 1)

    def test_a_field_that_fails_to_parse_is_ignored_whole(self):
        # cache-tests cdn-cc-invalid-sh-type-unknown: Cache-Control governs.
        path = "/tgd/syntax"
        t = T(path, cc="no-store", hdr="CDN-Cache-Control: max-age=10000, &&&&&")
        self.assert_not_cached(path, t)
        r = self.get(t)
        self.assertXCache(r, "BYPASS")
        self.assertEqual(r.header("CDN-Cache-Control"), "max-age=10000, &&&&&")

    def test_a_string_max_age_invalidates_the_field(self):
        # cache-tests cdn-cc-invalid-sh-type-wrong: "10000" is a String, not
        # an Integer, so the field is ignored and Cache-Control governs.
        path = "/tgd/string"
        self.assert_not_cached(path, T(path, cc="no-store", hdr='CDN-Cache-Control: max-age="10000"'))
        path = "/tgd/string-fallback"
        t = T(path, cc="max-age=60", hdr='CDN-Cache-Control: max-age="1"')
        self.assertXCache(self.get(t), "MISS")
        time.sleep(1.3)
        self.assertXCache(self.get(t), "HIT")
        self.assertEqual(self.origin.count(path), 1)

    def test_keys_are_case_sensitive(self):
        # "MaX-aGe" is no Dictionary key: the whole field is invalid.
        path = "/tgd/case"
        self.assert_not_cached(path, T(path, cc="no-store", hdr="CDN-Cache-Control: MaX-aGe=3600"))

    def test_whitespace_around_equals_invalidates_the_field(self):
        path = "/tgd/space"
        self.assert_not_cached(path, T(path, cc="no-store", hdr="CDN-Cache-Control: max-age =100"))

    def test_a_valid_field_without_known_directives_replaces_cache_control(self):
        # RFC 9213 §3.1 "CDN-Cache-Control: none": present and valid, so
        # Cache-Control (and Expires) no longer apply to relay.
        path = "/tgd/none/maxage"
        self.assert_not_cached(path, T(path, cc="max-age=60", expires=60, hdr="CDN-Cache-Control: none"))
        # ... and Cache-Control: no-store no longer stops relay from storing
        # with heuristic freshness.
        path = "/tgd/none/nostore"
        t = T(path, cc="no-store", lm_ago=36000, hdr="CDN-Cache-Control: none")
        self.assertXCache(self.get(t), "MISS")
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(self.origin.count(path), 1)


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
