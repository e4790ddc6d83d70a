"""Per-path [[cache.rules]]: the first rule whose glob matches the path
applies ('*' matches any run of characters); ttl replaces the origin's
freshness, default_ttl is used only when the origin gives none, bypass,
ignore_params, key_headers and the stale windows."""
import threading
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



class RuleOverridesTest(RelayTestCase):
    """[cache] settings a rule replaces for its paths: max_object_size
    (larger or smaller, with or without a Content-Length), targeted_fields
    and coalesce."""
    RELAY_CONFIG = {
        "cache": {"max_object_size": "64KiB", "rules": [
            {"path": "/os/pool/*", "max_object_size": "4MiB"},
            {"path": "/os/tiny/*", "max_object_size": "1KiB"},
            {"path": "/os/mirror-cc/*", "targeted_fields": ["Mirror-Cache-Control"]},
            {"path": "/os/alone/*", "coalesce": False, "ttl": "60s"},
            {"path": "/os/shared/*", "ttl": "60s"},
        ]},
    }

    def test_a_rule_names_its_own_targeted_field(self):
        query = "?cc=no-store&hdr=Mirror-Cache-Control:max-age%3D60&hdr=CDN-Cache-Control:no-store"
        for path, stored in (("/os/mirror-cc/a", True), ("/os/elsewhere", False)):
            self.get(path + query)
            want = "HIT" if stored else "BYPASS"
            self.assertEqual(self.get(path + query).header("X-Cache"), want, path)

    def test_coalesce_false_lets_concurrent_misses_each_fetch(self):
        def burst(path):
            results = []
            threads = [threading.Thread(target=lambda: results.append(self.get(path + "?delay=0.8")))
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual([r.status for r in results], [200] * 4)
            return self.origin.count(path)
        self.assertEqual(burst("/os/shared/x"), 1)
        self.assertEqual(burst("/os/alone/x"), 4)

    def stored_after_two(self, path, size, chunked):
        target = "%s?size=%d&cc=max-age%%3D600%s" % (path, size, "&chunked=1" if chunked else "")
        for _ in range(2):
            r = self.get(target)
            self.assertEqual((r.status, len(r.body)), (200, size), target)
        return self.origin.count(path) == 1

    def test_a_rule_raises_and_lowers_the_limit(self):
        for chunked in (False, True):
            sfx = "c" if chunked else "l"
            self.assertTrue(self.stored_after_two("/os/pool/big" + sfx, 1024 * 1024, chunked),
                            "1 MiB under a 4 MiB rule is stored")
            self.assertFalse(self.stored_after_two("/os/other" + sfx, 100 * 1024, chunked),
                             "100 KiB over [cache]'s 64 KiB is not")
            self.assertFalse(self.stored_after_two("/os/tiny/x" + sfx, 2048, chunked),
                             "2 KiB over the rule's 1 KiB is not")
            self.assertTrue(self.stored_after_two("/os/small" + sfx, 1000, chunked))


class MirrorRulesTest(RelayTestCase):
    """What a package mirror needs from rules: content the client cannot
    force a refetch of (immutable), statuses a ttl covers, and a short
    lifetime for 404 / 410 wherever the configuration gives one."""
    RELAY_CONFIG = {
        "cache": {"negative_ttl": "1s", "rules": [
            {"path": "/mi/by-hash/*", "ttl": "60s", "immutable": True},
            {"path": "/mi/listed/*", "ttl": "60s", "status": [200, 404]},
            {"path": "/mi/ok-only/*", "ttl": "60s", "status": [200]},
            {"path": "/mi/own-negative/*", "ttl": "60s", "negative_ttl": "60s"},
            {"path": "/mi/*", "ttl": "30d"},
        ]},
    }

    def test_immutable_paths_ignore_a_client_asking_for_the_origin(self):
        path = "/mi/by-hash/SHA256/abc"
        self.assertXCache(self.get(path), "MISS")
        for headers in ({"Cache-Control": "max-age=0"}, {"Cache-Control": "no-cache"}, {"Pragma": "no-cache"},
                        {"Cache-Control": "min-fresh=3600"}):
            self.assertXCache(self.get(path, headers=headers), "HIT")
        self.assertEqual(self.origin.count(path), 1)
        # Elsewhere apt's max-age=0 still makes relay ask the origin.
        other = "/mi/dists/InRelease"
        self.assertXCache(self.get(other), "MISS")
        self.assertNotEqual(self.get(other, headers={"Cache-Control": "max-age=0"}).header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(other), 2)

    def test_a_404_under_a_long_ttl_lives_negative_ttl_then_the_new_file_is_served(self):
        path = "/mi/pool/main/r/relay.deb"
        self.script(path, {"status": 404, "body": "not synced yet"}, {"status": 200, "body": "the package"})
        r = self.get(path)
        self.assertEqual(r.status, 404)
        self.assertXCache(r, "MISS")
        self.assertXCache(self.get(path), "HIT")
        time.sleep(STALE_SLEEP)
        r = self.get(path)
        self.assertEqual((r.status, r.body), (200, b"the package"))
        r = self.get(path)
        self.assertXCache(r, "HIT")  # and the 200 keeps the rule's 30 days
        self.assertCacheStatus(r, hit=True, ttl=(30 * 86400 - 60, 30 * 86400))
        self.assertEqual(self.origin.count(path), 2)

    def test_410_too_and_a_rule_of_its_own_negative_ttl(self):
        gone = "/mi/pool/gone"
        self.script(gone, {"status": 410})
        self.assertXCache(self.get(gone), "MISS")
        time.sleep(STALE_SLEEP)
        self.assertNotEqual(self.get(gone).header("X-Cache"), "HIT")
        own = "/mi/own-negative/missing"
        self.script(own, {"status": 404})
        self.assertXCache(self.get(own), "MISS")
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(own), "HIT")

    def test_status_list_scopes_the_rule_ttl(self):
        listed = "/mi/listed/missing"
        self.script(listed, {"status": 404})
        self.assertXCache(self.get(listed), "MISS")
        time.sleep(STALE_SLEEP)
        r = self.get(listed)
        self.assertXCache(r, "HIT")  # 404 is listed: the rule's 60 s as given
        self.assertEqual(r.status, 404)
        # A 301 the rule does not cover: the origin's own max-age=1 decides.
        moved = "/mi/ok-only/moved"
        self.script(moved, {"status": 301, "headers": [["Location", "/elsewhere"], ["Cache-Control", "max-age=1"]]})
        self.assertXCache(self.get(moved), "MISS")
        self.assertXCache(self.get(moved), "HIT")
        time.sleep(STALE_SLEEP)
        self.assertNotEqual(self.get(moved).header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(moved), 2)


if __name__ == "__main__":
    unittest.main()
