"""RFC 9111 §3 (storing responses in caches), plus Date and Age on what is
served (§4.2.3, §5.1): which responses relay stores and which fields it
must not replay. Each test has its own paths; the origin's request counter
proves when the origin was (not) contacted."""
import time
import unittest

from harness import RelayTestCase, expected_body, parse_http_date, target_for as T

LONG_AGO = 1_000_000_000  # a Last-Modified in 2001: heuristic freshness = heuristic_max (1d)

# RFC 9110 §15.1: heuristically cacheable status codes.
HEURISTIC_STATUSES = (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501)


class StoringTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"default_ttl": "0s"}}

    def get_twice(self, target, headers=None):
        return self.get(target, headers=headers), self.get(target, headers=headers)

    def test_get_with_max_age_is_stored(self):
        first, second = self.get_twice(T("/st/basic", cc="max-age=60", size=500))
        self.assertXCache(first, "MISS")
        self.assertXCache(second, "HIT")
        self.assertBody(second, "/st/basic", 500)
        self.assertCacheStatus(first, fwd="uri-miss", fwd_status=200, stored=True, hit=self.ABSENT)
        self.assertCacheStatus(second, hit=True, fwd=self.ABSENT, ttl=(55, 60))
        self.assertEqual(self.origin.count("/st/basic"), 1)

    def test_post_response_is_not_stored(self):
        t = T("/st/post", cc="max-age=60")
        r = self.request("POST", t, body=b"abc")
        self.assertEqual(r.status, 200)
        self.assertXCache(r, "BYPASS")
        self.assertCacheStatus(r, fwd="method", stored=self.ABSENT)
        self.assertXCache(self.get(t), "MISS")
        self.assertXCache(self.get(t), "HIT")
        self.assertEqual(self.origin.count("/st/post"), 2)

    def test_head_response_is_not_stored_as_the_get_response(self):
        t = T("/st/head", cc="max-age=60", size=300)
        with self.raw() as c:
            c.request("HEAD", t)
            head = c.read_response(method="HEAD")
        self.assertEqual(head.status, 200)
        r = self.get(t)
        self.assertXCache(r, "MISS")
        self.assertBody(r, "/st/head", 300)
        self.assertEqual(self.origin.count("/st/head"), 2)

    def test_response_no_store_is_not_stored(self):
        for _ in range(2):
            r = self.get(T("/st/nostore", cc="no-store, max-age=60"))
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "BYPASS")
            self.assertCacheStatus(r, fwd_status=200, stored=self.ABSENT)
        self.assertEqual(self.origin.count("/st/nostore"), 2)

    def test_request_no_store_is_forwarded_and_stores_nothing(self):
        t = T("/st/reqnostore", cc="max-age=60", size=40)
        self.assertXCache(self.get(t), "MISS")
        r = self.get(t, headers={"Cache-Control": "no-store"})
        self.assertEqual(r.status, 200)
        self.assertXCache(r, "BYPASS")
        self.assertCacheStatus(r, fwd="bypass", stored=self.ABSENT)
        self.assertEqual(self.origin.count("/st/reqnostore"), 2)
        # The entry stored before is still there.
        self.assertXCache(self.get(t), "HIT")
        self.assertEqual(self.origin.count("/st/reqnostore"), 2)

    def test_private_is_not_stored(self):
        for _ in range(2):
            self.assertXCache(self.get(T("/st/private", cc="private, max-age=60")), "BYPASS")
        self.assertEqual(self.origin.count("/st/private"), 2)

    def test_private_with_field_names_stores_without_those_fields(self):
        # §5.2.2.7: the named fields are private; the rest may be stored.
        t = T("/st/privfields", cc='private="X-Secret, X-Other", max-age=60',
              hdr=["X-Secret: s3cr3t", "X-Other: o", "X-Public: p"])
        first, second = self.get_twice(t)
        self.assertXCache(first, "MISS")
        self.assertXCache(second, "HIT")
        self.assertIsNone(second.header("X-Secret"), "private field replayed from cache")
        self.assertIsNone(second.header("X-Other"), "private field replayed from cache")
        self.assertEqual(second.header("X-Public"), "p")
        self.assertEqual(self.origin.count("/st/privfields"), 1)

    def test_no_cache_with_field_name_is_not_replayed(self):
        # §5.2.2.4: qualified no-cache: reusable without the named field.
        t = T("/st/ncfield", cc='no-cache="X-Foo", max-age=60', hdr=["X-Foo: f", "X-Bar: b"])
        first, second = self.get_twice(t)
        self.assertXCache(first, "MISS")
        self.assertXCache(second, "HIT")
        self.assertIsNone(second.header("X-Foo"), "no-cache field replayed from cache")
        self.assertEqual(second.header("X-Bar"), "b")
        self.assertEqual(self.origin.count("/st/ncfield"), 1)

    def test_authorization_requires_public_s_maxage_or_must_revalidate(self):
        # §3.5
        auth = {"Authorization": "Bearer abc"}
        for name, cc, stored in (("plain", "max-age=60", False), ("public", "public, max-age=60", True),
                                 ("smaxage", "s-maxage=60", True),
                                 ("mustreval", "must-revalidate, max-age=60", True)):
            with self.subTest(cc=cc):
                path = "/st/auth/" + name
                first, second = self.get_twice(T(path, cc=cc), headers=auth)
                self.assertEqual((first.status, second.status), (200, 200))
                if stored:
                    self.assertXCache(first, "MISS")
                    self.assertXCache(second, "HIT")
                    self.assertEqual(self.origin.count(path), 1)
                else:
                    self.assertXCache(first, "BYPASS")
                    self.assertXCache(second, "BYPASS")
                    self.assertEqual(self.origin.count(path), 2)
                    # Nothing stored for the unauthenticated request either.
                    self.assertXCache(self.get(T(path, cc=cc)), "MISS")

    def test_heuristically_cacheable_statuses_are_stored(self):
        for status in HEURISTIC_STATUSES:
            with self.subTest(status=status):
                path = "/st/heur/%d" % status
                first, second = self.get_twice(T(path, status=status, lm=LONG_AGO, size=20))
                self.assertEqual((first.status, second.status), (status, status))
                self.assertXCache(first, "MISS")
                self.assertXCache(second, "HIT")
                self.assertEqual(first.body, second.body)
                self.assertEqual(self.origin.count(path), 1)

    def test_other_statuses_need_explicit_freshness(self):
        for status in (302, 307, 500, 503):
            with self.subTest(status=status):
                path = "/st/noheur/%d" % status
                first, second = self.get_twice(T(path, status=status, lm=LONG_AGO))
                self.assertEqual((first.status, second.status), (status, status))
                self.assertXCache(first, "BYPASS")
                self.assertXCache(second, "BYPASS")
                self.assertEqual(self.origin.count(path), 2)

    def test_public_enables_heuristic_freshness_for_any_status(self):
        # RFC 9111 §4.2.2: a response "marked explicitly cacheable (e.g., with
        # a public response directive)" gets heuristic freshness whatever its
        # final status; §3 lets public make it storable.
        for status in (302, 500, 599):
            with self.subTest(status=status):
                path = "/st/public/%d" % status
                first, second = self.get_twice(T(path, status=status, cc="public", lm=LONG_AGO))
                self.assertEqual((first.status, second.status), (status, status))
                self.assertXCache(first, "MISS")
                self.assertCacheStatus(first, stored=True)
                self.assertXCache(second, "HIT")
                # 10% of Last-Modified's age, capped by heuristic_max (1 day).
                self.assertCacheStatus(second, hit=True, ttl=(86390, 86400))
                self.assertEqual(self.origin.count(path), 1)
        # public without Last-Modified has no freshness to go on.
        path = "/st/public/nolm"
        first, second = self.get_twice(T(path, status=599, cc="public"))
        self.assertXCache(second, "BYPASS")
        self.assertEqual(self.origin.count(path), 2)

    def test_302_and_500_with_explicit_freshness_are_stored(self):
        for status in (302, 500):
            with self.subTest(status=status):
                path = "/st/explicit/%d" % status
                first, second = self.get_twice(
                    T(path, status=status, cc="max-age=60", hdr="Location: /st/elsewhere"))
                self.assertEqual((first.status, second.status), (status, status))
                self.assertXCache(first, "MISS")
                self.assertXCache(second, "HIT")
                self.assertEqual(second.header("Location"), "/st/elsewhere")
                self.assertEqual(self.origin.count(path), 1)

    def test_206_from_origin_is_never_stored(self):
        t = T("/st/partial", status=206, cc="max-age=60", size=100,
              hdr="Content-Range: bytes 0-99/1000")
        for _ in range(2):
            r = self.get(t)
            self.assertEqual(r.status, 206)
            self.assertXCache(r, "BYPASS")
        self.assertEqual(self.origin.count("/st/partial"), 2)

    def test_vary_star_is_never_stored(self):
        for _ in range(2):
            r = self.get(T("/st/varystar", cc="max-age=60", hdr="Vary: *"))
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "BYPASS")
        self.assertEqual(self.origin.count("/st/varystar"), 2)

    def test_must_understand_overrides_no_store_for_understood_status(self):
        # §5.2.2.3
        cc = "must-understand, no-store, max-age=60"
        first, second = self.get_twice(T("/st/mu/200", cc=cc))
        self.assertXCache(first, "MISS")
        self.assertXCache(second, "HIT")
        self.assertEqual(self.origin.count("/st/mu/200"), 1)
        # 299 is not a status code relay can understand: no-store stands.
        first, second = self.get_twice(T("/st/mu/299", status=299, cc=cc))
        self.assertEqual((first.status, second.status), (299, 299))
        self.assertXCache(second, "BYPASS")
        self.assertEqual(self.origin.count("/st/mu/299"), 2)

    def test_max_age_zero_with_validator_is_stored(self):
        # Stored although stale at once: the next request is a conditional one.
        t = T("/st/maxage0", cc="max-age=0", etagv='"z0"', size=64)
        first = self.get(t)
        self.assertXCache(first, "MISS")
        self.assertCacheStatus(first, stored=True)
        second = self.get(t)
        self.assertXCache(second, "REVALIDATED")
        self.assertBody(second, "/st/maxage0", 64)
        reqs = self.origin.requests("/st/maxage0")
        self.assertEqual(len(reqs), 2)
        self.assertEqual(reqs[1]["status"], 304)

    def test_date_is_added_when_origin_sends_none(self):
        t = T("/st/nodate", cc="max-age=60", nodate=1)
        for want in ("MISS", "HIT"):
            r = self.get(t)
            self.assertXCache(r, want)
            date = r.header("Date")
            self.assertIsNotNone(date, "no Date on a %s" % want)
            self.assertIsNotNone(parse_http_date(date), "bad Date %r" % date)
            self.assertAlmostEqual(parse_http_date(date), time.time(), delta=5)

    def test_age_includes_upstream_age(self):
        t = T("/st/age", cc="max-age=3600", hdr="Age: 100")
        self.assertXCache(self.get(t), "MISS")
        hit = self.get(t)
        self.assertXCache(hit, "HIT")
        self.assertTrue((hit.header("Age") or "").isdigit(), "Age=%r" % hit.header("Age"))
        self.assertGreaterEqual(int(hit.header("Age")), 100)
        self.assertLessEqual(int(hit.header("Age")), 110)
        self.assertCacheStatus(hit, hit=True, ttl=(3490, 3500))

    def test_age_grows_while_stored(self):
        t = T("/st/agegrow", cc="max-age=60")
        self.assertXCache(self.get(t), "MISS")
        time.sleep(1.1)
        hit = self.get(t)
        self.assertXCache(hit, "HIT")
        self.assertTrue((hit.header("Age") or "").isdigit(), "Age=%r" % hit.header("Age"))
        self.assertGreaterEqual(int(hit.header("Age")), 1)
        self.assertLessEqual(int(hit.header("Age")), 5)


class StatusWithDefaultTtlTest(RelayTestCase):
    """default_ttl makes responses without freshness storable, but only those
    with a heuristically cacheable status."""
    RELAY_CONFIG = {"cache": {"default_ttl": "60s"}}

    def test_default_ttl_stores_200_but_not_302_or_500(self):
        for status, stored in ((200, True), (404, True), (302, False), (500, False)):
            with self.subTest(status=status):
                path = "/sd/%d" % status
                first = self.get(T(path, status=status))
                second = self.get(T(path, status=status))
                self.assertEqual((first.status, second.status), (status, status))
                self.assertXCache(second, "HIT" if stored else "BYPASS")
                self.assertEqual(self.origin.count(path), 1 if stored else 2)

    def test_default_ttl_does_not_override_no_store_or_private(self):
        for name, cc in (("nostore", "no-store"), ("private", "private")):
            with self.subTest(cc=cc):
                path = "/sd/" + name
                for _ in range(2):
                    self.assertXCache(self.get(T(path, cc=cc)), "BYPASS")
                self.assertEqual(self.origin.count(path), 2)

    def test_body_intact_after_default_ttl_storing(self):
        t = T("/sd/body", size=4000)
        self.assertXCache(self.get(t), "MISS")
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.body, expected_body("/sd/body", 4000))


if __name__ == "__main__":
    unittest.main()
