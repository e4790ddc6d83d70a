"""Shared-cache safety: each test performs an attack against the real relay
and shows it fails. Cache poisoning through a target the key and the origin
read differently, through rules the target evades, through unkeyed query
parameters or headers, through a GET body; one user's Set-Cookie or
Cookie-personalised page replayed to others; /metrics counted as traffic."""
import json
import threading
import time
import unittest
from pathlib import Path

from harness import HOST, RelayTestCase, metric, request, target_for as T, wait_until


def echo_of(resp):
    """The request the origin saw, from an /echo response body."""
    doc = json.loads(resp.body)
    doc["hmap"] = {}
    for name, value in doc["headers"]:
        doc["hmap"].setdefault(name.lower(), []).append(value)
    return doc


class TargetPoisoningTest(RelayTestCase):
    RELAY_CONFIG = {
        "cache": {"rules": [
            {"path": "/echo/static/*", "ttl": "7d", "ignore_params": ["v"]},
            {"path": "/echo/api/*", "bypass": True},
        ]},
    }

    def raw_get(self, target, headers):
        with self.raw() as c:
            c.request("GET", target, headers=headers)
            return c.read_response()

    def test_absolute_form_authority_is_what_the_origin_receives(self):
        # Attack: keyed as shop.test/p, but the origin builds the page for Host: evil.
        path = "/echo/abs?cc=max-age%3D60"
        r = self.raw_get("http://shop.test" + path, [("Host", "evil")])
        self.assertEqual(r.status, 200)
        self.assertEqual(echo_of(r)["hmap"]["host"], ["shop.test"])
        victim = self.raw_get(path, [("Host", "shop.test")])
        self.assertEqual(victim.header("X-Cache"), "HIT")
        self.assertEqual(echo_of(victim)["hmap"]["host"], ["shop.test"], "evil's page served to shop.test")
        for seen in self.origin.requests("/echo/abs"):
            hosts = [v for n, v in seen["headers"] if n.lower() == "host"]
            self.assertEqual(hosts, ["shop.test"])

    def test_two_host_fields_or_an_invalid_host_get_400(self):
        for headers in ([("Host", "shop.test"), ("Host", "evil")],
                        [("Host", "evil/../x")],
                        [("Host", "user@shop.test")],
                        [("Host", "shop.test:99999")]):
            with self.subTest(headers=headers):
                r = self.raw_get("/echo/hosts?cc=max-age%3D60", headers)
                self.assertEqual(r.status, 400)
        # The absolute-form does not excuse a second Host line either.
        r = self.raw_get("http://shop.test/echo/hosts", [("Host", "shop.test"), ("Host", "evil")])
        self.assertEqual(r.status, 400)
        self.assertEqual(self.origin.count("/echo/hosts"), 0)
        self.assertIn("more than one Host", self.relay.logs(200))

    def test_dot_segments_cannot_borrow_another_paths_rule(self):
        # Attack: /echo/static/../page takes the static rule (7 days, v ignored)
        # while it is stored as /echo/page with the attacker's v reflected.
        attack = self.get("/echo/static/../page?v=%3Cscript%3E")
        self.assertEqual(attack.status, 200)
        seen = echo_of(attack)
        self.assertEqual(seen["target"], "/echo/page?v=%3Cscript%3E", "the origin gets the normalised target")
        victim = self.get("/echo/page")
        self.assertNotEqual(victim.header("X-Cache"), "HIT")
        self.assertNotIn("script", victim.body.decode())

    def test_dot_segments_and_slashes_cannot_evade_a_bypass_rule(self):
        for attack in ("/echo/x/../api/me?cc=max-age%3D60", "/echo/x/%2e%2E/api/me?cc=max-age%3D60",
                       "//echo//api/me?cc=max-age%3D60"):
            with self.subTest(attack=attack):
                self.origin.reset()
                first = self.get(attack, headers={"Cookie": "user=alice"})
                self.assertEqual(first.header("X-Cache"), "BYPASS")
                second = self.get("/echo/api/me?cc=max-age%3D60", headers={"Cookie": "user=bob"})
                self.assertEqual(second.header("X-Cache"), "BYPASS")
                self.assertEqual(echo_of(second)["hmap"]["cookie"], ["user=bob"])
                self.assertEqual(self.origin.count("/echo/api/me"), 2)

    def test_ignored_parameters_are_not_forwarded(self):
        # Attack: utm_content is not keyed, so a reflecting origin poisons /echo/landing.
        attack = self.get("/echo/landing?cc=max-age%3D60&utm_content=%3Cscript%3E&fbclid=1")
        self.assertEqual(echo_of(attack)["target"], "/echo/landing?cc=max-age%3D60")
        victim = self.get("/echo/landing?cc=max-age%3D60")
        self.assertEqual(victim.header("X-Cache"), "HIT")
        self.assertNotIn("script", victim.body.decode())

    def test_a_fragment_is_never_forwarded(self):
        r = self.raw_get("/echo/frag?cc=max-age%3D60#top", [])
        self.assertEqual(r.status, 200)
        self.assertEqual(echo_of(r)["target"], "/echo/frag?cc=max-age%3D60")


class UnkeyedHeadersTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"rules": [{"path": "/echo/keyed/*", "key_headers": ["X-Forwarded-Host"]}]}}

    def test_rewrite_and_override_headers_are_stripped(self):
        attack = {"X-Original-URL": "/admin", "X-Rewrite-URL": "/admin",
                  "X-HTTP-Method-Override": "DELETE", "X-Forwarded-Host": "evil.example"}
        r = self.get("/echo/page4?cc=max-age%3D60", headers=attack)
        seen = echo_of(r)["hmap"]
        for name in attack:
            self.assertNotIn(name.lower(), seen, "%s reached the origin unkeyed" % name)

    def test_a_keyed_header_is_forwarded(self):
        r = self.get("/echo/keyed/a?cc=max-age%3D60", headers={"X-Forwarded-Host": "one.example"})
        self.assertEqual(echo_of(r)["hmap"]["x-forwarded-host"], ["one.example"])
        other = self.get("/echo/keyed/a?cc=max-age%3D60", headers={"X-Forwarded-Host": "two.example"})
        self.assertEqual(other.header("X-Cache"), "MISS")
        self.assertEqual(echo_of(other)["hmap"]["x-forwarded-host"], ["two.example"])

    def test_bypassed_requests_are_stripped_too(self):
        r = self.request("POST", "/echo/post4", headers={"X-HTTP-Method-Override": "DELETE"}, body=b"x")
        self.assertNotIn("x-http-method-override", echo_of(r)["hmap"])


class GetWithBodyTest(RelayTestCase):
    def test_get_with_a_body_bypasses_the_cache(self):
        # Attack: the origin reflects the body, and the result is stored for everyone.
        attack = self.request("GET", "/echo/gbody?cc=max-age%3D60", body=b"<script>evil</script>")
        self.assertEqual(attack.header("X-Cache"), "BYPASS")
        self.assertEqual(echo_of(attack)["body_length"], len(b"<script>evil</script>"))
        victim = self.get("/echo/gbody?cc=max-age%3D60")
        self.assertEqual(victim.header("X-Cache"), "MISS")
        self.assertEqual(echo_of(victim)["body_length"], 0)
        self.assertEqual(self.get("/echo/gbody?cc=max-age%3D60").header("X-Cache"), "HIT")


class SetCookieTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"rules": [
        {"path": "/sc/strip/*", "set_cookie": "strip"},
        {"path": "/sc/store/*", "set_cookie": "store"},
    ]}}

    def cookie_then_plain(self, path, first_headers):
        self.script(path, {"headers": first_headers + [["Set-Cookie", "session=secret-1"]]},
                    {"headers": first_headers})
        first = self.get(path)
        self.assertEqual(first.header("Set-Cookie"), "session=secret-1", "the fetching client gets its cookie")
        return first, self.get(path)

    def test_set_cookie_is_not_stored_by_default(self):
        for cc in (["Cache-Control", "max-age=60"], ["Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"]):
            path = "/sc/default/" + cc[0].lower()
            with self.subTest(field=cc[0]):
                first, second = self.cookie_then_plain(path, [cc])
                self.assertEqual(first.header("X-Cache"), "BYPASS")
                self.assertIsNone(second.header("Set-Cookie"), "secret-1 replayed to another client")
                self.assertEqual(self.origin.count(path), 2)

    def test_strip_stores_without_the_cookie(self):
        path = "/sc/strip/a"
        first, second = self.cookie_then_plain(path, [["Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"]])
        self.assertEqual(first.header("X-Cache"), "MISS")
        self.assertEqual(second.header("X-Cache"), "HIT")
        self.assertIsNone(second.header("Set-Cookie"))

    def test_strip_never_hands_the_cookie_to_coalesced_followers(self):
        path = "/sc/strip/burst"
        self.script(path, {"delay": 1, "headers": [["Cache-Control", "max-age=60"],
                                                   ["Set-Cookie", "session=secret-2"]]})
        results = []

        def one():
            results.append(self.get(path))

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        self.assertEqual(len(results), 6)
        with_cookie = [r for r in results if r.header("Set-Cookie")]
        self.assertEqual(len(with_cookie), 1, "only the client whose request fetched gets the cookie")
        self.assertEqual(self.origin.count(path), 1)

    def test_store_keeps_it_only_with_explicit_freshness(self):
        explicit = "/sc/store/explicit"
        first, second = self.cookie_then_plain(explicit, [["Cache-Control", "max-age=60"]])
        self.assertEqual(second.header("X-Cache"), "HIT")
        self.assertEqual(second.header("Set-Cookie"), "session=secret-1")
        heuristic = "/sc/store/heuristic"
        first, second = self.cookie_then_plain(heuristic, [["Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"]])
        self.assertIsNone(second.header("Set-Cookie"))
        self.assertEqual(self.origin.count(heuristic), 2)

    def test_a_304_cookie_reaches_only_its_client(self):
        path = "/sc/strip/reval"
        etag = '"v1"'
        self.script(path, {"etag": etag, "headers": [["Cache-Control", "max-age=1"]]},
                    {"etag": etag, "headers": [["Cache-Control", "max-age=1"]],
                     "headers_304": [["Cache-Control", "max-age=60"], ["Set-Cookie", "session=secret-3"]]})
        self.assertEqual(self.get(path).header("X-Cache"), "MISS")
        time.sleep(1.3)
        revalidated = self.get(path)
        self.assertEqual(revalidated.header("X-Cache"), "REVALIDATED")
        self.assertEqual(revalidated.header("Set-Cookie"), "session=secret-3")
        later = self.get(path)
        self.assertEqual(later.header("X-Cache"), "HIT")
        self.assertIsNone(later.header("Set-Cookie"))


class CookieHeuristicTest(RelayTestCase):
    def test_no_heuristic_freshness_for_responses_to_cookie_requests(self):
        # Attack: alice's personalised page (no Cache-Control, only
        # Last-Modified) is cached heuristically and served to everyone.
        path = T("/ch/page", lm_ago=86400)
        alice = self.get(path, headers={"Cookie": "user=alice"})
        self.assertEqual(alice.status, 200)
        anonymous = self.get(path)
        self.assertNotEqual(anonymous.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/ch/page"), 2)

    def test_explicit_freshness_still_caches(self):
        path = T("/ch/public", cc="public, max-age=60")
        self.get(path, headers={"Cookie": "user=alice"})
        self.assertEqual(self.get(path).header("X-Cache"), "HIT")


class MetricsScrapeTest(RelayTestCase):
    RELAY_CONFIG = {"log": {"access_log": "stderr"}}

    def test_scrapes_are_not_cache_traffic(self):
        def total(text):
            return metric(text, "relay_requests_total") or 0

        before = total(self.relay.metrics())
        for _ in range(3):
            self.relay.metrics()
        after = total(self.relay.metrics())
        self.assertEqual(after, before, "scrapes counted in relay_requests_total")
        self.get("/ms/x")
        self.assertEqual(total(self.relay.metrics()), before + 1)
        wait_until(lambda: "/ms/x" in self.relay.logs(400), 5, what="access log line")
        self.assertNotIn("GET /metrics", self.relay.logs(400))


if __name__ == "__main__":
    unittest.main()
