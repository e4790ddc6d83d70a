"""Per-path [[cache.rules]]: the first rule whose glob matches the path
applies ('*' matches any run of characters); ttl replaces the origin's
freshness, default_ttl is used only when the origin gives none, bypass,
ignore_params, key_headers and the stale windows."""
import time
import unittest

from harness import RelayTestCase, target_for as T, wait_until

STALE_SLEEP = 1.3


class RulesTest(RelayTestCase):
    RELAY_CONFIG = {
        "upstream": {"first_byte_timeout": "1s"},
        "cache": {"rules": [
            {"path": "/ru/ttl/*", "ttl": "60s"},
            {"path": "/ru/default/*", "default_ttl": "60s"},
            {"path": "/ru/bypass/*", "bypass": True},
            {"path": "/ru/params/*", "ignore_params": ["session", "ref_*"]},
            {"path": "/ru/keyh/*", "key_headers": ["X-Tenant"]},
            {"path": "/ru/swr/*", "stale_while_revalidate": "30s"},
            {"path": "/ru/sie/*", "stale_if_error": "30s"},
            {"path": "/ru/order/special", "ttl": "60s"},
            {"path": "/ru/order/*", "bypass": True},
            {"path": "/ru/glob/*/end", "ttl": "60s"},
        ]},
    }

    def test_rule_ttl_replaces_origin_freshness(self):
        short = T("/ru/ttl/short", cc="max-age=1")
        none = T("/ru/ttl/deep/er/none")
        for t in (short, none):
            self.assertXCache(self.get(t), "MISS")
        time.sleep(STALE_SLEEP)
        r = self.get(short)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(50, 59))
        self.assertXCache(self.get(none), "HIT")
        self.assertEqual(self.origin.count("/ru/ttl/short"), 1)
        self.assertEqual(self.origin.count("/ru/ttl/deep/er/none"), 1)

    def test_rule_default_ttl_only_without_origin_freshness(self):
        none = T("/ru/default/none")
        short = T("/ru/default/short", cc="max-age=1")
        self.assertXCache(self.get(none), "MISS")
        r = self.get(none)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(55, 60))
        self.assertXCache(self.get(short), "MISS")
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(short), "EXPIRED")
        self.assertEqual(self.origin.count("/ru/default/short"), 2)

    def test_rule_bypass(self):
        t = T("/ru/bypass/a", cc="max-age=60")
        for _ in range(2):
            r = self.get(t)
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "BYPASS")
            self.assertCacheStatus(r, fwd="bypass", stored=self.ABSENT)
        self.assertEqual(self.origin.count("/ru/bypass/a"), 2)

    def test_first_matching_rule_wins(self):
        special = "/ru/order/special"  # ttl rule listed before the bypass glob
        self.assertXCache(self.get(special), "MISS")
        self.assertXCache(self.get(special), "HIT")
        other = T("/ru/order/other", cc="max-age=60")
        for _ in range(2):
            self.assertXCache(self.get(other), "BYPASS")
        self.assertEqual(self.origin.count("/ru/order/special"), 1)
        self.assertEqual(self.origin.count("/ru/order/other"), 2)

    def test_glob_star_matches_any_run(self):
        for path in ("/ru/glob/a/end", "/ru/glob/a/b/c/end"):
            with self.subTest(path=path):
                self.assertXCache(self.get(path), "MISS")
                self.assertXCache(self.get(path), "HIT")
        # No rule matches: no freshness, not stored.
        for _ in range(2):
            self.assertXCache(self.get("/ru/glob/a/end/not"), "BYPASS")

    def test_rule_ignore_params(self):
        path = "/ru/params/a"
        self.assertXCache(self.get(path + "?cc=max-age%3D60&session=1"), "MISS")
        self.assertXCache(self.get(path + "?cc=max-age%3D60&session=2"), "HIT")
        self.assertXCache(self.get(path + "?cc=max-age%3D60&session=3&ref_x=9"), "HIT")
        self.assertXCache(self.get(path + "?cc=max-age%3D60&session=1&v=2"), "MISS")
        self.assertEqual(self.origin.count(path), 2)

    def test_rule_key_headers(self):
        t = T("/ru/keyh/a", cc="max-age=60")
        for tenant, want in (("a", "MISS"), ("b", "MISS"), ("a", "HIT"), ("b", "HIT")):
            self.assertXCache(self.get(t, headers={"X-Tenant": tenant}), want)
        self.assertEqual(self.origin.count("/ru/keyh/a"), 2)

    def test_rule_stale_while_revalidate(self):
        path = "/ru/swr/a"
        self.script(path, {"body": "v1", "headers": [["Cache-Control", "max-age=1"]]},
                    {"body": "v2", "delay": 0.2, "headers": [["Cache-Control", "max-age=60"]]})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(STALE_SLEEP)
        r = self.get(path)
        self.assertXCache(r, "STALE")
        self.assertEqual(r.body, b"v1")
        self.assertCacheStatus(r, hit=True, detail="stale-while-revalidate")
        wait_until(lambda: self.origin.count(path) == 2, 3, what="background revalidation")
        time.sleep(0.5)
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.body, b"v2")

    def test_rule_stale_if_error(self):
        path = "/ru/sie/a"
        self.script(path, {"body": "v1", "headers": [["Cache-Control", "max-age=0"]]},
                    {"status": 503, "body": "down"})
        self.assertXCache(self.get(path), "MISS")
        r = self.get(path)
        self.assertEqual((r.status, r.body), (200, b"v1"))
        self.assertXCache(r, "STALE")
        self.assertCacheStatus(r, fwd="stale", fwd_status=503, detail="stale-if-error")


if __name__ == "__main__":
    unittest.main()
