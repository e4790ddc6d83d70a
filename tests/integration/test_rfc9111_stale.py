"""Serving stale responses (RFC 9111 §4.2.4, RFC 5861): stale-while-revalidate
with exactly one background revalidation per key, stale-if-error on origin
5xx, timeouts and refused connections, the [cache] defaults for both, and
must-revalidate / proxy-revalidate / s-maxage / no-cache forbidding them."""
import concurrent.futures
import time
import unittest

from harness import RelayTestCase, request_header, target_for as T, wait_until

STALE_SLEEP = 1.3  # makes a max-age=1 entry stale


def cc(value):
    return ["Cache-Control", value]


class StaleWhileRevalidateTest(RelayTestCase):

    def test_serves_stale_and_refreshes_in_the_background(self):
        path = "/swr/basic"
        self.script(path, {"body": "v1", "headers": [cc("max-age=1, stale-while-revalidate=30")]},
                    {"body": "v2", "delay": 0.5, "headers": [cc("max-age=60")]})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(STALE_SLEEP)
        start = time.monotonic()
        r = self.get(path)
        took = time.monotonic() - start
        self.assertEqual((r.status, r.body), (200, b"v1"))
        self.assertXCache(r, "STALE")
        self.assertLess(took, 0.4, "the stale response waited for the origin (%.2fs)" % took)
        self.assertCacheStatus(r, hit=True, fwd=self.ABSENT, ttl=(-30, 0),
                               detail="stale-while-revalidate")
        wait_until(lambda: self.origin.count(path) == 2, 3, what="background revalidation")
        time.sleep(0.9)  # the origin answers after 0.5 s
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.body, b"v2")
        self.assertEqual(self.origin.count(path), 2)

    def test_burst_after_expiry_triggers_exactly_one_revalidation(self):
        path = "/swr/burst"
        self.script(path, {"body": "v1", "headers": [cc("max-age=1, stale-while-revalidate=30")]},
                    {"body": "v2", "delay": 1.0, "headers": [cc("max-age=60")]})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(STALE_SLEEP)

        def one(_):
            start = time.monotonic()
            r = self.get(path)
            return r, time.monotonic() - start

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            results = list(pool.map(one, range(20)))
        for r, took in results:
            self.assertEqual((r.status, r.body), (200, b"v1"))
            self.assertXCache(r, "STALE")
            self.assertLess(took, 0.8, "a stale response waited for the origin (%.2fs)" % took)
        wait_until(lambda: self.origin.count(path) >= 2, 3, what="background revalidation")
        time.sleep(1.4)  # the origin answers after 1 s
        self.assertEqual(self.origin.count(path), 2, "more than one background revalidation")
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.body, b"v2")
        self.assertEqual(self.origin.count(path), 2)

    def test_background_revalidation_is_conditional(self):
        path = "/swr/cond"
        self.script(path, {"body": "v1", "etag": '"w1"',
                           "headers": [cc("max-age=1, stale-while-revalidate=30"), ["X-Version", "1"]],
                           "headers_304": [cc("max-age=60"), ["X-Version", "2"]]})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(path), "STALE")
        wait_until(lambda: self.origin.count(path) == 2, 3, what="background revalidation")
        time.sleep(0.3)
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertEqual((r.body, r.header("X-Version")), (b"v1", "2"))
        req = self.origin.requests(path)[1]
        self.assertIn('"w1"', request_header(req, "If-None-Match") or "")
        self.assertEqual(req["status"], 304)

    def test_after_the_window_the_origin_is_waited_for(self):
        path = "/swr/window"
        self.script(path, {"body": "v1", "headers": [cc("max-age=0, stale-while-revalidate=1")]},
                    {"body": "v2", "headers": [cc("max-age=60")]})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(2.2)  # stale for >= 2 s, window 1 s
        r = self.get(path)
        self.assertXCache(r, "EXPIRED")
        self.assertEqual(r.body, b"v2")
        self.assertEqual(self.origin.count(path), 2)


class StaleIfErrorTest(RelayTestCase):
    RELAY_CONFIG = {"upstream": {"first_byte_timeout": "1s"}}

    def test_stale_served_when_origin_answers_5xx(self):
        codes = (500, 502, 503, 504)
        for code in codes:
            self.script("/sie/5xx/%d" % code,
                        {"body": "v1-%d" % code, "headers": [cc("max-age=1, stale-if-error=30")]},
                        {"status": code, "body": "error"})
            self.assertXCache(self.get("/sie/5xx/%d" % code), "MISS")
        time.sleep(STALE_SLEEP)
        for code in codes:
            with self.subTest(code=code):
                path = "/sie/5xx/%d" % code
                r = self.get(path)
                self.assertEqual((r.status, r.body), (200, b"v1-%d" % code))
                self.assertXCache(r, "STALE")
                self.assertCacheStatus(r, fwd="stale", fwd_status=code, detail="stale-if-error")
                self.assertEqual(self.origin.count(path), 2)

    def test_stale_served_when_origin_times_out(self):
        path = "/sie/timeout"
        self.script(path, {"body": "v1", "headers": [cc("max-age=0, stale-if-error=30")]},
                    {"body": "v2", "delay": 2.5})
        self.assertXCache(self.get(path), "MISS")
        start = time.monotonic()
        r = self.get(path)
        took = time.monotonic() - start
        self.assertEqual((r.status, r.body), (200, b"v1"))
        self.assertXCache(r, "STALE")
        self.assertCacheStatus(r, fwd="stale", detail="stale-if-error")
        self.assertLess(took, 2.0, "first_byte_timeout is 1s (took %.2fs)" % took)

    def test_after_the_window_the_error_is_passed_through(self):
        path = "/sie/window"
        self.script(path, {"body": "v1", "headers": [cc("max-age=0, stale-if-error=1")]},
                    {"status": 503, "body": "down"})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(2.2)  # stale for >= 2 s, window 1 s
        r = self.get(path)
        self.assertEqual((r.status, r.body), (503, b"down"))
        self.assertEqual(self.origin.count(path), 2)

    def test_revalidate_directives_forbid_stale_on_error(self):
        variants = {"mustreval": "max-age=1, must-revalidate, stale-if-error=30",
                    "proxyreval": "max-age=1, proxy-revalidate, stale-if-error=30",
                    "smaxage": "s-maxage=1, stale-if-error=30"}
        for name, value in variants.items():
            self.script("/sie/forbid/" + name, {"body": "v1", "headers": [cc(value)]},
                        {"status": 503, "body": "down"})
            self.assertXCache(self.get("/sie/forbid/" + name), "MISS")
        time.sleep(STALE_SLEEP)
        for name, value in variants.items():
            with self.subTest(cc=value):
                r = self.get("/sie/forbid/" + name)
                self.assertEqual((r.status, r.body), (503, b"down"))
                self.assertNotEqual(r.header("X-Cache"), "STALE")
                self.assertEqual(self.origin.count("/sie/forbid/" + name), 2)

    def test_must_revalidate_timeout_is_504(self):
        path = "/sie/mrtimeout"
        self.script(path, {"body": "v1", "headers": [cc("max-age=0, must-revalidate, stale-if-error=30")]},
                    {"body": "v2", "delay": 2.5})
        self.assertXCache(self.get(path), "MISS")
        start = time.monotonic()
        r = self.get(path)
        self.assertEqual(r.status, 504)
        self.assertNotEqual(r.body, b"v1")
        self.assertLess(time.monotonic() - start, 2.0)


class StaleDefaultsTest(RelayTestCase):
    """[cache] stale_while_revalidate applies when the response names none."""
    RELAY_CONFIG = {"cache": {"stale_while_revalidate": "30s"}}

    def test_default_stale_while_revalidate(self):
        path = "/swrd/basic"
        self.script(path, {"body": "v1", "headers": [cc("max-age=1")]},
                    {"body": "v2", "delay": 0.3, "headers": [cc("max-age=60")]})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(STALE_SLEEP)
        r = self.get(path)
        self.assertXCache(r, "STALE")
        self.assertEqual(r.body, b"v1")
        self.assertCacheStatus(r, hit=True, detail="stale-while-revalidate")
        wait_until(lambda: self.origin.count(path) == 2, 3, what="background revalidation")
        time.sleep(0.7)
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.body, b"v2")

    def test_defaults_never_apply_with_revalidate_directives_or_explicit_zero(self):
        variants = {"mustreval": "max-age=1, must-revalidate",
                    "proxyreval": "max-age=1, proxy-revalidate",
                    "smaxage": "s-maxage=1",
                    "nocache": "no-cache, max-age=60",
                    "explicit0": "max-age=1, stale-while-revalidate=0"}
        for name, value in variants.items():
            self.script("/swrd/never/" + name, {"body": "v1", "headers": [cc(value)]},
                        {"body": "v2", "headers": [cc("max-age=60")]})
            self.assertXCache(self.get("/swrd/never/" + name), "MISS")
        time.sleep(STALE_SLEEP)
        for name, value in variants.items():
            with self.subTest(cc=value):
                r = self.get("/swrd/never/" + name)
                self.assertXCache(r, "EXPIRED")
                self.assertEqual(r.body, b"v2")
                self.assertEqual(self.origin.count("/swrd/never/" + name), 2)


class StaleIfErrorDefaultTest(RelayTestCase):
    """[cache] stale_if_error applies when the response names none."""
    RELAY_CONFIG = {"cache": {"stale_if_error": "30s"}}

    def test_default_stale_if_error(self):
        path = "/sed/503"
        self.script(path, {"body": "v1", "headers": [cc("max-age=0")]},
                    {"status": 503, "body": "down"})
        self.assertXCache(self.get(path), "MISS")
        r = self.get(path)
        self.assertEqual((r.status, r.body), (200, b"v1"))
        self.assertXCache(r, "STALE")
        self.assertCacheStatus(r, fwd="stale", fwd_status=503, detail="stale-if-error")

    def test_default_never_applies_with_revalidate_directives_or_explicit_zero(self):
        variants = {"mustreval": "max-age=0, must-revalidate",
                    "proxyreval": "max-age=0, proxy-revalidate",
                    "smaxage": "s-maxage=0",
                    "nocache": "no-cache, max-age=60",
                    "explicit0": "max-age=0, stale-if-error=0"}
        for name, value in variants.items():
            with self.subTest(cc=value):
                path = "/sed/never/" + name
                self.script(path, {"body": "v1", "headers": [cc(value)]},
                            {"status": 503, "body": "down"})
                self.assertXCache(self.get(path), "MISS")
                r = self.get(path)
                self.assertEqual((r.status, r.body), (503, b"down"))
                self.assertEqual(self.origin.count(path), 2)


class OriginUnreachableTest(RelayTestCase):
    """The origin process is stopped mid-test (connections refused), then
    started again on the same port. Query-driven origin responses, so nothing
    depends on origin state that a restart loses."""
    RELAY_CONFIG = {"upstream": {"connect_timeout": "1s", "first_byte_timeout": "1s"}}

    def test_stale_if_error_when_origin_is_unreachable(self):
        stale = T("/down/sie", cc="max-age=0, stale-if-error=60", size=55)
        fresh = T("/down/fresh", cc="max-age=60", size=66)
        self.assertXCache(self.get(stale), "MISS")
        self.assertXCache(self.get(fresh), "MISS")
        with self.origin_down():
            r = self.get(stale)
            self.assertEqual(r.status, 200)
            self.assertBody(r, "/down/sie", 55)
            self.assertXCache(r, "STALE")
            self.assertCacheStatus(r, fwd="stale", fwd_status=self.ABSENT, detail="stale-if-error")
            r = self.get(fresh)
            self.assertXCache(r, "HIT")
            self.assertBody(r, "/down/fresh", 66)

    def test_must_revalidate_when_origin_is_unreachable_is_504(self):
        t = T("/down/mustreval", cc="max-age=0, must-revalidate, stale-if-error=60")
        self.assertXCache(self.get(t), "MISS")
        with self.origin_down():
            r = self.get(t)
            self.assertEqual(r.status, 504)
            self.assertIsNotNone(r.header("Cache-Status"))

    def test_targeted_must_revalidate_when_origin_is_unreachable_is_504(self):
        # RFC 9213 §2.2: CDN-Cache-Control replaces Cache-Control for relay,
        # so its must-revalidate forbids stale (RFC 9111 §4.2.4) even though
        # Cache-Control allows it, and the failed revalidation is a 504.
        t = T("/down/cdn-mustreval", cc="max-age=0, stale-if-error=60",
              hdr="CDN-Cache-Control: max-age=0, must-revalidate")
        self.assertXCache(self.get(t), "MISS")
        with self.origin_down():
            r = self.get(t)
            self.assertEqual(r.status, 504)
            self.assertIsNotNone(r.header("Cache-Status"))

    def test_stale_without_stale_if_error_is_502(self):
        t = T("/down/plain", cc="max-age=0")
        self.assertXCache(self.get(t), "MISS")
        with self.origin_down():
            r = self.get(t)
            self.assertEqual(r.status, 502)
            self.assertIsNotNone(r.header("Cache-Status"))

    def test_after_the_window_unreachable_is_502(self):
        t = T("/down/window", cc="max-age=0, stale-if-error=1")
        self.assertXCache(self.get(t), "MISS")
        time.sleep(2.2)  # stale for >= 2 s, window 1 s
        with self.origin_down():
            self.assertEqual(self.get(t).status, 502)


if __name__ == "__main__":
    unittest.main()
