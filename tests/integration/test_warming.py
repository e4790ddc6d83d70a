"""Cache warming ([[warm]]): URLs from a list file or a sitemap are fetched
through relay's own request path at start-up and on a schedule, so clients
find them cached; Vary variants through configured request fields; warm
requests stay out of client metrics and the access log."""
import time
import unittest

from harness import RelayTestCase, metric, wait_until

MAX_AGE = "cc=max-age%3D300"


class WarmTestCase(RelayTestCase):
    START_RELAY = False
    WARM_TOML = ""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.access_log = cls.workdir / "access.log"
            cls.relay = cls.make_relay({"log": {"access_log": str(cls.access_log)}})
            # The Host clients send relay, which the warmed keys must hold too.
            cls.host = "127.0.0.1:%d" % cls.relay.port
            cls.prepare()
            cls.relay.extra_toml = cls.warm_toml()
            cls.relay.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def warm_toml(cls):
        return cls.WARM_TOML

    def scrape(self, name, **labels):
        return metric(self.relay.metrics(), name, **labels) or 0

    def wait_runs(self, source, n, result="complete", timeout=20):
        wait_until(lambda: self.scrape("relay_warm_runs_total", source=source, result=result) >= n,
                   timeout, interval=0.1, what="%d %s run(s) of warm source %s" % (n, result, source))


class WarmFromListTest(WarmTestCase):
    @classmethod
    def prepare(cls):
        cls.list_path = cls.workdir / "warm.txt"
        cls.list_path.write_text(
            "# pages to keep cached\n"
            "/w/a?%s&size=500\n"
            "\n"
            "http://%s/w/b?%s&size=700\n"
            "ftp://files.example/not-http\n"
            "/w/missing?status=404\n" % (MAX_AGE, cls.host, MAX_AGE))
        cls.vary_path = cls.workdir / "vary.txt"
        cls.vary_path.write_text("/w/v?%s&hdr=Vary:Accept-Encoding\n" % MAX_AGE)

    @classmethod
    def warm_toml(cls):
        return (
            '[[warm]]\nname = "pages"\nurls = "%s"\nhost = "%s"\nevery = "2s"\nrate = 50\nconcurrency = 2\n\n'
            '[[warm]]\nname = "variants"\nurls = "%s"\nhost = "%s"\nevery = 0\n'
            'variants = [ { "Accept-Encoding" = "gzip" }, { "Accept-Encoding" = "identity" } ]\n'
            % (cls.list_path, cls.host, cls.vary_path, cls.host))

    def test_listed_urls_are_cached_before_any_client_asks(self):
        self.wait_runs("pages", 1)
        for path, size in (("/w/a", 500), ("/w/b", 700)):
            r = self.get("%s?%s&size=%d" % (path, MAX_AGE, size))
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "HIT")
            self.assertBody(r, path, size)
            self.assertEqual(self.origin.count(path), 1, path)
        # The warm request went the normal way: Host, and relay's own User-Agent.
        seen = self.origin.requests("/w/a")[0]
        self.assertTrue(any(k.lower() == "user-agent" and v.startswith("relay-warm/") for k, v in seen["headers"]))
        text = self.relay.metrics()
        self.assertGreaterEqual(metric(text, "relay_warm_requests_total", source="pages", result="filled"), 2)
        self.assertGreaterEqual(metric(text, "relay_warm_requests_total", source="pages", result="failed"), 1)
        self.assertEqual(metric(text, "relay_warm_urls", source="pages"), 3)
        self.assertGreater(metric(text, "relay_warm_last_complete_timestamp_seconds", source="pages"), 0)
        logs = self.relay.logs(400)
        self.assertIn('warm "pages": 3 URLs', logs)
        self.assertIn("line 5: not an http(s) URL or /path: ftp://files.example/not-http", logs)
        self.assertIn('warm "pages": run complete', logs)
        self.assertIn("/w/missing?status=404: status 404", logs)

    def test_each_variant_is_warmed(self):
        self.wait_runs("variants", 1)
        for encoding in ("gzip", "identity"):
            r = self.get("/w/v?%s&hdr=Vary:Accept-Encoding" % MAX_AGE, headers={"Accept-Encoding": encoding})
            self.assertXCache(r, "HIT")
        self.assertEqual(self.origin.count("/w/v"), 2)
        # A variant nobody warmed is a miss.
        r = self.get("/w/v?%s&hdr=Vary:Accept-Encoding" % MAX_AGE, headers={"Accept-Encoding": "br"})
        self.assertXCache(r, "MISS")

    def test_runs_repeat_on_schedule_and_reread_the_list(self):
        self.wait_runs("pages", 1)
        runs = self.scrape("relay_warm_runs_total", source="pages", result="complete")
        hits = self.scrape("relay_warm_requests_total", source="pages", result="hit")
        with self.list_path.open("a") as f:
            f.write("/w/added?%s\n" % MAX_AGE)
        self.wait_runs("pages", runs + 2)
        # Fresh objects cost the next runs nothing but lookups.
        self.assertEqual(self.origin.count("/w/a"), 1)
        self.assertGreaterEqual(self.scrape("relay_warm_requests_total", source="pages", result="hit"), hits + 2)
        self.assertXCache(self.get("/w/added?%s" % MAX_AGE), "HIT")
        self.assertEqual(self.origin.count("/w/added"), 1)

    def test_warm_requests_are_not_client_traffic(self):
        self.wait_runs("pages", 1)
        # /w/missing is only ever asked for by the warmer.
        self.assertEqual(self.get("/w/client-probe").status, 200)
        wait_until(lambda: self.access_log.exists() and "/w/client-probe" in self.access_log.read_text(), 10,
                   what="the client request's access log line")
        self.assertNotIn("/w/missing", self.access_log.read_text())
        self.assertGreaterEqual(self.origin.count("/w/missing"), 1)


class WarmPacingTest(WarmTestCase):
    """`rate` spaces the requests of a run: six URLs at four a second take
    at least five quarter-seconds from the first to the last. `concurrency`
    caps those in flight: six slow URLs (half a second each) two at a time
    reach the origin in three pairs."""

    @classmethod
    def prepare(cls):
        cls.paced = cls.workdir / "paced.txt"
        cls.paced.write_text("".join("/paced/%d?%s\n" % (i, MAX_AGE) for i in range(6)))
        cls.slow = cls.workdir / "slow.txt"
        cls.slow.write_text("".join("/pairs/%d?%s&delay=0.5\n" % (i, MAX_AGE) for i in range(6)))

    @classmethod
    def warm_toml(cls):
        return ('[[warm]]\nname = "paced"\nurls = "%s"\nhost = "%s"\nevery = 0\nrate = 4\nconcurrency = 4\n\n'
                '[[warm]]\nname = "pairs"\nurls = "%s"\nhost = "%s"\nevery = 0\nrate = 1000\nconcurrency = 2\n'
                % (cls.paced, cls.host, cls.slow, cls.host))

    def arrivals(self, prefix):
        return sorted(self.origin.requests("%s/%d" % (prefix, i))[0]["time"] for i in range(6))

    def test_requests_are_spaced_by_the_rate(self):
        self.wait_runs("paced", 1)
        times = self.arrivals("/paced")
        self.assertGreaterEqual(times[-1] - times[0], 1.2, times)

    def test_no_more_than_concurrency_requests_are_in_flight(self):
        self.wait_runs("pairs", 1)
        times = self.arrivals("/pairs")
        # Two at once (the cap is used), never a third before one of them ended.
        self.assertLess(times[1] - times[0], 0.3, times)
        for i in range(2, 6):
            self.assertGreaterEqual(times[i] - times[i - 2], 0.45, times)


class WarmFromSitemapTest(WarmTestCase):
    PAGES = ("/s/one", "/s/two?a=1&b=2", "/s/three")

    @classmethod
    def prepare(cls):
        base = "http://" + cls.host
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n'
        index = xml + ('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                       '<sitemap><loc>%s/sm/1.xml</loc></sitemap>'
                       '<sitemap><loc>%s/sm/2.xml</loc></sitemap>'
                       '<sitemap><loc>%s/sm/gone.xml</loc></sitemap></sitemapindex>' % (base, base, base))
        first = xml + ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                       'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
                       '<url><loc>%s/s/one</loc><image:image><image:loc>%s/s/image.jpg</image:loc></image:image></url>'
                       '<url><loc>%s/s/two?a=1&amp;b=2</loc></url></urlset>' % (base, base, base))
        second = xml + ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                        '<!-- <url><loc>%s/s/commented</loc></url> -->'
                        '<url><loc>%s/s/three</loc></url></urlset>' % (base, base))
        xml_type = [["Content-Type", "application/xml"], ["Cache-Control", "max-age=60"]]
        cls.origin.script("/sitemap_index.xml", [{"body": index, "headers": xml_type}])
        cls.origin.script("/sm/1.xml", [{"body": first, "headers": xml_type}])
        cls.origin.script("/sm/2.xml", [{"body": second, "headers": xml_type}])
        cls.origin.script("/sm/gone.xml", [{"status": 404, "body": "no"}])
        for page in ("/s/one", "/s/two", "/s/three", "/s/image.jpg", "/s/commented"):
            cls.origin.script(page, [{"body": "page " + page, "headers": [["Cache-Control", "max-age=300"]]}])
        cls.base = base

    @classmethod
    def warm_toml(cls):
        return ('[[warm]]\nname = "site"\nsitemap = "%s/sitemap_index.xml"\nevery = 0\n\n'
                '[[warm]]\nname = "broken"\nsitemap = "%s/no-such-sitemap.xml?status=404"\nevery = 0\n' % (cls.base, cls.base))

    def test_sitemap_pages_are_cached(self):
        self.wait_runs("site", 1)
        for page in self.PAGES:
            r = self.get(page)
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "HIT")
            self.assertEqual(r.body, ("page " + page.split("?")[0]).encode())
            self.assertEqual(self.origin.count(page.split("?")[0]), 1, page)
        # Extensions' locs and comments are not pages.
        self.assertEqual(self.origin.count("/s/image.jpg"), 0)
        self.assertEqual(self.origin.count("/s/commented"), 0)
        self.assertEqual(self.scrape("relay_warm_urls", source="site"), 3)
        logs = self.relay.logs(400)
        self.assertIn("skipping sitemap %s/sm/gone.xml: status 404" % self.base, logs)

    def test_a_sitemap_that_cannot_be_fetched_fails_the_run(self):
        self.wait_runs("broken", 1, result="failed")
        self.assertEqual(self.scrape("relay_warm_runs_total", source="broken", result="complete"), 0)
        self.assertIn('warm "broken": no URLs this run: sitemap %s/no-such-sitemap.xml?status=404: status 404'
                      % self.base, self.relay.logs(400))


class WarmReloadTest(WarmTestCase):
    """A reload that changes [[warm]] starts the new sources; relay stops
    cleanly while a slow warm run is under way."""

    @classmethod
    def prepare(cls):
        cls.slow_list = cls.workdir / "slow.txt"
        cls.slow_list.write_text("".join("/r/slow%d?%s&delay=0.5\n" % (i, MAX_AGE) for i in range(40)))
        cls.new_list = cls.workdir / "new.txt"
        cls.new_list.write_text("/r/new?%s\n" % MAX_AGE)

    @classmethod
    def warm_toml(cls):
        return '[[warm]]\nname = "slow"\nurls = "%s"\nrate = 2\nconcurrency = 1\nhost = "%s"\n' % (
            cls.slow_list, cls.host)

    def test_reload_replaces_the_sources(self):
        wait_until(lambda: self.origin.count("/r/slow0") == 1, 10, what="the slow run to start")
        self.relay.config_path.write_text(self.relay.config_path.read_text().replace(
            'name = "slow"\nurls = "%s"\nrate = 2' % self.slow_list,
            'name = "new"\nurls = "%s"\nrate = 2' % self.new_list))
        self.assertIn('name = "new"', self.relay.config_path.read_text())
        r = self.relay.admin("POST", "/reload")
        self.assertEqual(r.status, 200, r.body)
        self.wait_runs("new", 1)
        self.assertXCache(self.get("/r/new?%s" % MAX_AGE), "HIT")
        # The old source stopped after its request in flight.
        seen = sum(self.origin.count("/r/slow%d" % i) for i in range(40))
        time.sleep(1.2)
        self.assertLessEqual(sum(self.origin.count("/r/slow%d" % i) for i in range(40)), seen + 1)
        self.assertLess(seen, 40)


if __name__ == "__main__":
    unittest.main()
