"""Purge ([purge], POST /purge on the admin listener, the PURGE method, the
`relay purge` subcommand): by URL (every Vary variant), prefix, glob, tag
(Surrogate-Key / Cache-Tag, stripped from what clients get) and all; soft
purges that make the next request revalidate and keep the body on 304;
fills running during a purge not stored; a purge on one relay reaching
another's memory tier through Redis within 100 ms; tag indexes that survive
a restart on disk; the token, the allowlist and the metrics."""
import json
import threading
import time

from client import metric
from harness import (RelayTestCase, expected_body, get, request, restart_relay, run_relay_cli, target_for,
                     wait_stored, wait_until)
from test_storage_disk import disk_storage
from test_storage_redis import RedisRelayTestCase

HOST = "www.example.com"
SITE = {"Host": HOST}


def url(target):
    return "http://%s%s" % (HOST, target)


def cached(path, **params):
    params.setdefault("cc", "max-age=600")
    return target_for(path, **params)


class PurgeTestCase(RelayTestCase):
    def purge(self, relay=None, expect=200, **order):
        relay = relay or self.relay
        r = relay.admin("POST", "/purge", headers={"Content-Type": "application/json"},
                        body=json.dumps(order).encode())
        self.assertEqual(r.status, expect, r)
        return json.loads(r.body.decode())

    def fill(self, target, headers=None, port=None):
        """A MISS, then wait until it is stored; returns the MISS."""
        headers = dict(SITE, **(headers or {}))
        port = port or self.port
        r = get(port, target, headers=headers)
        self.assertEqual(r.status, 200, r)
        self.assertXCache(r, "MISS")
        wait_stored(port, target, headers=headers)
        return r

    def x_cache(self, target, headers=None, port=None):
        r = get(port or self.port, target, headers=dict(SITE, **(headers or {})))
        self.assertEqual(r.status, 200, r)
        return r.header("X-Cache")


class PurgeByUrlTest(PurgeTestCase):
    def test_url_purge_removes_the_entry_and_says_so(self):
        target = cached("/pu/one", size=3000)
        self.fill(target)
        self.assertEqual(self.x_cache(target), "HIT")
        answer = self.purge(url=url(target))
        # The selector is the URL as keyed: here, its query sorted.
        self.assertEqual(answer, {"purged": 1, "kind": "url", "mode": "hard",
                                  "selector": url("/pu/one?cc=max-age%3D600&size=3000")})
        self.assertEqual(self.x_cache(target), "MISS")
        self.assertEqual(self.origin.count("/pu/one"), 2)

    def test_url_is_normalised_as_a_request_is(self):
        target = "/pu/norm?b=2&a=1&cc=max-age%3D600"
        self.fill(target)
        # Upper-case host, default port, a dot segment, parameters in another order.
        answer = self.purge(url="http://WWW.EXAMPLE.COM:80/pu/./norm?cc=max-age%3D600&a=1&b=2")
        self.assertEqual(answer["purged"], 1)
        self.assertEqual(self.x_cache(target), "MISS")

    def test_url_purge_reaches_every_vary_variant(self):
        target = cached("/pu/vary", hdr="Vary:Accept-Language")
        for lang in ("en", "de", "fr"):
            self.fill(target, {"Accept-Language": lang})
        other = cached("/pu/vary-other")
        self.fill(other)
        self.assertEqual(self.purge(url=url(target))["purged"], 3)
        for lang in ("en", "de", "fr"):
            self.assertEqual(self.x_cache(target, {"Accept-Language": lang}), "MISS", lang)
        self.assertEqual(self.x_cache(other), "HIT")

    def test_another_host_is_not_purged(self):
        target = cached("/pu/host")
        self.fill(target)
        self.fill(target, {"Host": "other.example.com"})
        self.assertEqual(self.purge(url=url(target))["purged"], 1)
        self.assertEqual(self.x_cache(target, {"Host": "other.example.com"}), "HIT")

    def test_nothing_to_purge_is_zero(self):
        self.assertEqual(self.purge(url=url("/pu/never"))["purged"], 0)


class PurgeSelectorsTest(PurgeTestCase):
    def test_prefix(self):
        inside = [cached("/pp/a"), cached("/pp/sub/b"), cached("/pp/c", q="1")]
        outside = cached("/ppx/d")
        for t in inside + [outside]:
            self.fill(t)
        self.assertEqual(self.purge(prefix=url("/pp/"))["purged"], 3)
        for t in inside:
            self.assertEqual(self.x_cache(t), "MISS", t)
        self.assertEqual(self.x_cache(outside), "HIT")

    def test_glob(self):
        css, js = cached("/gl/site.css"), cached("/gl/site.js")
        self.fill(css)
        self.fill(js)
        self.assertEqual(self.purge(glob="http://*.example.com/gl/*.css*")["purged"], 1)
        self.assertEqual(self.x_cache(css), "MISS")
        self.assertEqual(self.x_cache(js), "HIT")

    def test_tag_from_surrogate_key_and_cache_tag_and_the_fields_stay_private(self):
        a = cached("/tg/a", hdr="Surrogate-Key:product-1 list")
        b = cached("/tg/b", hdr="Cache-Tag:list,other")
        c = cached("/tg/c", hdr="Surrogate-Key:product-2")
        for t in (a, b, c):
            miss = self.fill(t)
            self.assertIsNone(miss.header("Surrogate-Key"), t)
            self.assertIsNone(miss.header("Cache-Tag"), t)
        hit = get(self.port, a, headers=SITE)
        self.assertXCache(hit, "HIT")
        self.assertIsNone(hit.header("Surrogate-Key"))
        self.assertEqual(self.purge(tag="list")["purged"], 2)
        self.assertEqual(self.x_cache(a), "MISS")
        self.assertEqual(self.x_cache(b), "MISS")
        self.assertEqual(self.x_cache(c), "HIT")

    def test_all(self):
        targets = [cached("/all/%d" % i) for i in range(5)]
        for t in targets:
            self.fill(t)
        self.assertGreaterEqual(self.purge(all=True)["purged"], 5)
        for t in targets:
            self.assertEqual(self.x_cache(t), "MISS", t)

    def test_bad_orders_are_400_problems(self):
        for body in (b"not json", b"{}", b'{"url": "/relative"}', b'{"url": "http://h/a", "tag": "x"}',
                     b'{"tag": "two words"}'):
            r = self.relay.admin("POST", "/purge", body=body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertEqual(r.header("Content-Type"), "application/problem+json")
            self.assertTrue(json.loads(r.body.decode())["detail"])

    def test_metrics_count_purges_and_entries(self):
        before = self.relay.metrics()
        t = cached("/pm/a", hdr="Surrogate-Key:pm")
        self.fill(t)
        self.purge(tag="pm")
        self.purge(url=url(t), soft=True)
        after = self.relay.metrics()
        for kind, mode in (("tag", "hard"), ("url", "soft")):
            self.assertEqual(metric(after, "relay_purges_total", kind=kind, mode=mode) -
                             metric(before, "relay_purges_total", kind=kind, mode=mode), 1, (kind, mode))
        self.assertEqual(metric(after, "relay_purged_entries_total") -
                         metric(before, "relay_purged_entries_total"), 1)


class SoftPurgeTest(PurgeTestCase):
    def test_next_request_revalidates_and_304_keeps_the_body(self):
        path, size = "/soft/etag", 20_000
        target = cached(path, size=size, etag=1)
        self.fill(target)
        self.assertEqual(self.x_cache(target), "HIT")
        answer = self.purge(url=url(target), soft=True)
        self.assertEqual((answer["purged"], answer["kind"], answer["mode"]), (1, "url", "soft"))
        r = get(self.port, target, headers=SITE)
        self.assertEqual(r.status, 200)
        self.assertXCache(r, "REVALIDATED")
        self.assertEqual(r.body, expected_body(path, size))
        seen = self.origin.requests(path)
        self.assertEqual(len(seen), 2)
        self.assertEqual(seen[-1]["status"], 304)
        self.assertTrue(any(n.lower() == "if-none-match" for n, _ in seen[-1]["headers"]))
        # Revalidated: fresh again, without going back to the origin.
        self.assertEqual(self.x_cache(target), "HIT")
        self.assertEqual(self.origin.count(path), 2)

    def test_stale_while_revalidate_still_protects_the_origin(self):
        path = "/soft/swr"
        target = cached(path, cc="max-age=600, stale-while-revalidate=60", etag=1)
        self.fill(target)
        self.purge(url=url(target), soft=True)
        r = get(self.port, target, headers=SITE)
        self.assertXCache(r, "STALE")
        wait_until(lambda: self.origin.count(path) == 2, 5, what="the background revalidation")
        wait_until(lambda: self.x_cache(target) == "HIT", 5, what="the revalidated entry")


class FillDuringPurgeTest(PurgeTestCase):
    def test_a_fill_running_during_a_purge_is_not_stored(self):
        path, size = "/fp/slow", 40_000
        target = cached(path, size=size, drip=0.1, drip_size=4000)
        result = {}

        def slow_get():
            result["r"] = get(self.port, target, headers=SITE, timeout=30)
        t = threading.Thread(target=slow_get)
        t.start()
        wait_until(lambda: self.origin.count(path) == 1, 5, what="the fill to start")
        self.purge(url=url(target))
        t.join(30)
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(result["r"].body, expected_body(path, size))
        time.sleep(0.2)
        self.assertEqual(self.x_cache(target), "MISS")


class PurgeMethodOffTest(PurgeTestCase):
    def test_purge_goes_to_the_origin_when_no_allowlist_is_set(self):
        target = cached("/pmo/a")
        self.fill(target)
        r = request(self.port, "PURGE", target, headers=SITE)
        self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.requests("/pmo/a")[-1]["method"], "PURGE")
        # An unsafe method the origin answered with a 2xx invalidates the URL
        # (RFC 9111 §4.4), as any other would: relay's purge played no part.
        self.assertEqual(self.x_cache(target), "MISS")


class PurgeMethodTest(PurgeTestCase):
    RELAY_CONFIG = {"purge": {"allow": ["127.0.0.1/32"]}}

    def test_purge_method_purges_the_url_as_requested(self):
        target = cached("/pmeth/a", hdr="Vary:Accept")
        self.fill(target, {"Accept": "text/html"})
        self.fill(target, {"Accept": "application/json"})
        r = request(self.port, "PURGE", target, headers=SITE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body.decode())["purged"], 2)
        self.assertEqual(self.x_cache(target, {"Accept": "text/html"}), "MISS")
        self.assertEqual(self.origin.count("/pmeth/a"), 3)  # the PURGE itself never reached it

    def test_fastly_soft_purge_header(self):
        target = cached("/pmeth/soft", etag=1)
        self.fill(target)
        r = request(self.port, "PURGE", target, headers=dict(SITE, **{"Fastly-Soft-Purge": "1"}))
        self.assertEqual(json.loads(r.body.decode())["mode"], "soft")
        self.assertEqual(self.x_cache(target), "REVALIDATED")


class PurgeMethodRefusedTest(PurgeTestCase):
    RELAY_CONFIG = {"purge": {"allow": ["10.0.0.0/8"]}}

    def test_a_client_outside_the_allowlist_gets_403(self):
        target = cached("/pmr/a")
        self.fill(target)
        r = request(self.port, "PURGE", target, headers=SITE)
        self.assertEqual(r.status, 403)
        self.assertEqual(self.x_cache(target), "HIT")
        self.assertEqual(self.origin.requests("/pmr/a")[-1]["method"], "GET")


class PurgeTokenAndCliTest(PurgeTestCase):
    RELAY_CONFIG = {"admin": {"token": "s3cret-token"}}

    def test_token_required(self):
        r = self.relay.admin("POST", "/purge", body=b'{"all": true}')
        self.assertEqual(r.status, 401)
        r = self.relay.admin("POST", "/purge", headers={"Authorization": "Bearer s3cret-token"},
                             body=b'{"all": true}')
        self.assertEqual(r.status, 200, r)

    def cli(self, *args, env=None):
        return run_relay_cli(["purge", "--config", str(self.relay.config_path)] + list(args), env=env)

    def test_cli_purges_a_url_and_prints_the_count(self):
        target = cached("/cli/a")
        self.fill(target)
        p = self.cli(url(target))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "purged 1 entry")
        self.assertEqual(self.x_cache(target), "MISS")

    def test_cli_prefix_tag_all_and_soft(self):
        a = cached("/cli/p/a", hdr="Surrogate-Key:cli-tag", etag=1)
        self.fill(a)
        p = self.cli("--soft", "--tag", "cli-tag")
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "purged 1 entry"), p.stderr)
        self.assertEqual(self.x_cache(a), "REVALIDATED")
        p = self.cli("--prefix", url("/cli/p/"))
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "purged 1 entry"), p.stderr)
        p = self.cli("--all")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^purged \d+ entr(y|ies)$")

    def test_cli_fails_loudly(self):
        p = self.cli(url("/x"), env={"RELAY_ADMIN_TOKEN": "wrong-token"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("401", p.stderr)
        p = self.cli("/relative")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("400", p.stderr)
        p = self.cli()
        self.assertEqual(p.returncode, 2)
        p = self.cli(url("/x"), env={"RELAY_ADMIN_LISTEN": ""})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("admin API is off", p.stderr)


class DiskTagIndexTest(PurgeTestCase):
    @classmethod
    def relay_config(cls):
        return disk_storage(cls.workdir / "cache")

    def test_tags_survive_a_restart(self):
        tagged, other = cached("/dt/a", hdr="Surrogate-Key:disk-tag"), cached("/dt/b")
        self.fill(tagged)
        self.fill(other)
        restart_relay(self.relay)
        self.assertEqual(self.purge(tag="disk-tag")["purged"], 1)
        self.assertEqual(self.x_cache(tagged), "MISS")
        self.assertEqual(self.x_cache(other), "HIT")


class FleetPurgeTest(RedisRelayTestCase, PurgeTestCase):
    RELAYS = 2

    @classmethod
    def make_relay(cls, config=None, **kw):
        config = dict(config or {})
        config["storage"] = dict(config.get("storage", {}), tier="memory+redis")
        return super().make_relay(config, **kw)

    def test_a_purge_on_one_relay_reaches_the_others_memory_within_100ms(self):
        first, second = self.relays
        target = cached("/fleet/a", size=5000)
        self.fill(target, port=first.port)
        # The second relay now holds it in its memory tier too.
        self.assertEqual(self.x_cache(target, port=second.port), "HIT")
        self.assertEqual(self.x_cache(target, port=second.port), "HIT")
        self.assertEqual(self.purge(relay=first, url=url(target))["purged"], 1)
        time.sleep(0.1)
        self.assertEqual(self.x_cache(target, port=second.port), "MISS")

    def test_tag_purge_on_the_shared_store(self):
        first, second = self.relays
        a = cached("/fleet/tag-a", hdr="Cache-Tag:fleet")
        self.fill(a, port=second.port)
        self.assertEqual(self.purge(relay=first, tag="fleet")["purged"], 1)
        time.sleep(0.1)
        self.assertEqual(self.x_cache(a, port=second.port), "MISS")
