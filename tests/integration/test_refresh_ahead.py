"""Refresh-ahead ([cache.refresh_ahead]): a stored response that keeps
being asked for is revalidated in the background before it expires, so it
stays a HIT across its expiry, while a cold one expires as usual; a rule
can turn it off for its paths."""
import time
import unittest

from harness import RelayTestCase, metric, wait_until

LIFETIME = 4  # seconds: max-age of the objects below
HOT = "/ra/hot?cc=max-age%%3D%d&etag=1" % LIFETIME
COLD = "/ra/cold?cc=max-age%%3D%d&etag=1" % LIFETIME
OPTED_OUT = "/ra/live/hot?cc=max-age%%3D%d&etag=1" % LIFETIME
REPLACED = "/ra/new?cc=max-age%%3D%d" % LIFETIME  # no validator: a refresh stores a new response


class RefreshAheadTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"refresh_ahead": {"enabled": True, "min_hits": 3, "at": 0.5},
                              "rules": [{"path": "/ra/live/*", "refresh_ahead": False}]}}

    def refreshes(self, result):
        return metric(self.relay.metrics(), "relay_refresh_ahead_total", result=result) or 0

    def test_a_hot_object_stays_a_hit_across_its_expiry_while_a_cold_one_expires(self):
        for target in (HOT, COLD, OPTED_OUT, REPLACED):
            self.assertXCache(self.get(target), "MISS")
        start = time.monotonic()
        # Hot ones are asked for often while young: counted, nothing refreshed yet.
        for _ in range(3):
            for target in (HOT, OPTED_OUT, REPLACED):
                self.assertXCache(self.get(target), "HIT")
        self.assertEqual(self.origin.count("/ra/hot"), 1)
        # Past half their lifetime, the next hit starts the refresh.
        time.sleep(max(0, start + LIFETIME * 0.5 + 0.3 - time.monotonic()))
        for target in (HOT, OPTED_OUT, REPLACED):
            self.assertXCache(self.get(target), "HIT")
        wait_until(lambda: self.origin.count("/ra/hot") == 2 and self.origin.count("/ra/new") == 2, 5,
                   what="the hot objects' refreshes")
        # The refresh was conditional: the origin answered 304.
        hot_requests = self.origin.requests("/ra/hot")
        self.assertTrue(any(k.lower() == "if-none-match" for k, _ in hot_requests[-1]["headers"]))
        self.assertEqual(hot_requests[-1]["status"], 304)
        # Past the original expiry.
        time.sleep(max(0, start + LIFETIME + 0.5 - time.monotonic()))
        hot = self.get(HOT)
        self.assertXCache(hot, "HIT")
        self.assertLess(int(hot.header("Age")), LIFETIME)
        self.assertXCache(self.get(REPLACED), "HIT")
        self.assertEqual(self.origin.count("/ra/hot"), 2)
        self.assertNotEqual(self.get(COLD).header("X-Cache"), "HIT")
        self.assertNotEqual(self.get(OPTED_OUT).header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/ra/cold"), 2)
        self.assertEqual(self.refreshes("revalidated"), 1)
        self.assertEqual(self.refreshes("refreshed"), 1)
        self.assertEqual(self.refreshes("failed"), 0)

    def test_a_refresh_that_fails_leaves_the_object_to_expire(self):
        target = "/ra/failing?cc=max-age%%3D%d" % LIFETIME
        self.script("/ra/failing", {"headers": [["Cache-Control", "max-age=%d" % LIFETIME]], "body": "v1"},
                    {"status": 503, "body": "down"})
        self.assertXCache(self.get(target), "MISS")
        start = time.monotonic()
        for _ in range(3):
            self.get(target)
        time.sleep(max(0, start + LIFETIME * 0.5 + 0.3 - time.monotonic()))
        failed = self.refreshes("failed")
        r = self.get(target)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.body, b"v1")
        wait_until(lambda: self.refreshes("failed") == failed + 1, 5, what="the failed refresh to be counted")
        # Once per lifetime: more hits start no second attempt.
        for _ in range(3):
            self.assertXCache(self.get(target), "HIT")
        time.sleep(0.3)
        self.assertEqual(self.origin.count("/ra/failing"), 2)
        self.assertIn("refresh-ahead of /ra/failing", self.relay.logs(200))


if __name__ == "__main__":
    unittest.main()
