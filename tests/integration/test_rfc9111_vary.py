"""RFC 9111 §4.1 (Vary): variants under one URI keyed by the nominated
request headers, normalization of their values, Vary: * and replacement of
one variant. The origin's /echo paths return the request headers they saw
(JSON), which proves which variant a stored response belongs to."""
import unittest

from harness import RelayTestCase, target_for as T


def echoed(resp, name):
    """The values of request header `name` the origin saw, per the echo body."""
    return [v for k, v in resp.json()["headers"] if k.lower() == name.lower()]


class VaryTest(RelayTestCase):

    def lang(self, target, value):
        return self.get(target, headers={"Accept-Language": value} if value else None)

    def test_variants_coexist(self):
        t = T("/echo/vary/coexist", cc="max-age=60", hdr="Vary: Accept-Language")
        first = self.lang(t, "en")
        self.assertXCache(first, "MISS")
        self.assertCacheStatus(first, fwd="uri-miss", stored=True)
        second = self.lang(t, "fr")
        self.assertXCache(second, "MISS")
        self.assertCacheStatus(second, fwd="vary-miss", fwd_status=200, stored=True)
        for value in ("en", "fr", "en"):
            r = self.lang(t, value)
            self.assertXCache(r, "HIT")
            self.assertEqual(echoed(r, "Accept-Language"), [value])
            self.assertEqual(r.header("Vary"), "Accept-Language")
        self.assertEqual(self.origin.count("/echo/vary/coexist"), 2)

    def test_absent_header_is_a_variant_of_its_own(self):
        t = T("/echo/vary/absent", cc="max-age=60", hdr="Vary: Accept-Language")
        self.assertXCache(self.lang(t, "en"), "MISS")
        r = self.lang(t, None)
        self.assertXCache(r, "MISS")
        self.assertEqual(echoed(r, "Accept-Language"), [])
        r = self.lang(t, None)
        self.assertXCache(r, "HIT")
        self.assertEqual(echoed(r, "Accept-Language"), [])
        self.assertXCache(self.lang(t, "en"), "HIT")
        self.assertEqual(self.origin.count("/echo/vary/absent"), 2)

    def test_equivalent_values_share_a_variant(self):
        # §4.1: whitespace after commas and combining field lines are
        # normalizations; field names are case-insensitive.
        t = T("/echo/vary/norm", cc="max-age=60", hdr="Vary: accept-encoding")
        self.assertXCache(self.get(t, headers={"Accept-Encoding": "gzip, br"}), "MISS")
        self.assertXCache(self.get(t, headers={"Accept-Encoding": "gzip,br"}), "HIT")
        self.assertXCache(self.get(t, headers={"ACCEPT-ENCODING": "gzip, br"}), "HIT")
        with self.raw() as c:
            c.request("GET", t, headers=[("Accept-Encoding", "gzip"), ("Accept-Encoding", "br")])
            self.assertXCache(c.read_response(), "HIT")
        self.assertXCache(self.get(t, headers={"Accept-Encoding": "identity"}), "MISS")
        self.assertEqual(self.origin.count("/echo/vary/norm"), 2)

    def test_equivalent_preference_lists_share_a_variant(self):
        # §4.1 normalization of Accept-Language / Accept-Encoding: case,
        # whitespace, q=1 and the order of equally weighted entries carry no
        # meaning; a different weight does.
        t = T("/echo/vary/langs", cc="max-age=60", hdr="Vary: Accept-Language")
        first = self.lang(t, "en, de")
        self.assertXCache(first, "MISS")
        for same in ("EN,DE", "de;q=1, en", "de, en", " en ,de;Q=1.0"):
            with self.subTest(value=same):
                r = self.lang(t, same)
                self.assertXCache(r, "HIT")
                self.assertEqual(echoed(r, "Accept-Language"), ["en, de"])
        r = self.lang(t, "en;q=0.5, de")
        self.assertXCache(r, "MISS")
        self.assertEqual(echoed(r, "Accept-Language"), ["en;q=0.5, de"])
        self.assertXCache(self.lang(t, "de, en;q=0.50"), "HIT")
        self.assertEqual(self.origin.count("/echo/vary/langs"), 2)

        t = T("/echo/vary/encodings", cc="max-age=60", hdr="Vary: Accept-Encoding")
        self.assertXCache(self.get(t, headers={"Accept-Encoding": "gzip, br"}), "MISS")
        self.assertXCache(self.get(t, headers={"Accept-Encoding": "BR,gzip"}), "HIT")
        self.assertXCache(self.get(t, headers={"Accept-Encoding": "gzip, br;q=0"}), "MISS")
        self.assertEqual(self.origin.count("/echo/vary/encodings"), 2)

    def test_several_vary_fields(self):
        t = T("/echo/vary/multi", cc="max-age=60", hdr="Vary: Accept-Language, X-Device")
        combos = (("en", "mobile", "MISS"), ("en", "desktop", "MISS"), ("fr", "mobile", "MISS"),
                  ("en", "mobile", "HIT"), ("en", "desktop", "HIT"), ("fr", "mobile", "HIT"))
        for lang, device, want in combos:
            r = self.get(t, headers={"Accept-Language": lang, "X-Device": device})
            self.assertXCache(r, want)
            self.assertEqual((echoed(r, "Accept-Language"), echoed(r, "X-Device")),
                             ([lang], [device]))
        self.assertEqual(self.origin.count("/echo/vary/multi"), 3)

    def test_vary_star_never_matches(self):
        t = T("/echo/vary/star", cc="max-age=60", hdr="Vary: *")
        for _ in range(2):
            self.assertNotEqual(self.lang(t, "en").header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/echo/vary/star"), 2)

    def test_a_new_response_replaces_only_its_variant(self):
        t = T("/echo/vary/replace", cc="max-age=60", hdr="Vary: Accept-Language")
        seq_en = self.lang(t, "en").header("X-Origin-Seq")
        seq_fr = self.lang(t, "fr").header("X-Origin-Seq")
        reload = self.get(t, headers={"Accept-Language": "en", "Cache-Control": "no-cache"})
        seq_en2 = reload.header("X-Origin-Seq")
        self.assertNotEqual(seq_en2, seq_en)
        r = self.lang(t, "en")
        self.assertXCache(r, "HIT")
        self.assertEqual(r.header("X-Origin-Seq"), seq_en2)
        r = self.lang(t, "fr")
        self.assertXCache(r, "HIT")
        self.assertEqual(r.header("X-Origin-Seq"), seq_fr)
        self.assertEqual(self.origin.count("/echo/vary/replace"), 3)


if __name__ == "__main__":
    unittest.main()
