"""A cache hit allocates nothing from the heap in the steady state (issue 14).

The real relay runs under an LD_PRELOAD module (tests/support/
count_allocations.c, built next to the tests) that counts every malloc,
calloc, realloc and aligned allocation in the process and writes the count at
exit. relay serves FEW hits in one run and MANY in another, each over one
keep-alive connection after one miss; start-up, the miss and shutdown are the
same in both, so the difference divided by the difference in hits is what a
hit allocates. Timers (the metrics sampler, the loop watchdog) may allocate a
little more in the longer run, hence a small allowance rather than exactly 0:
one allocation per hit would be 1.0.
"""
import http.client
import os
import subprocess
import time
import unittest
from pathlib import Path

from harness import HOST, RelayTestCase, relay_bin, wait_stored

FEW = 100
MANY = 1100
ALLOWANCE = 0.1  # allocations per hit
# What a browser sends: field values longer than a string holds inline.
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-GB,en;q=0.9,de;q=0.7",
}


def counting_module():
    return Path(relay_bin()).resolve().parent / "tests" / "libcount_allocations.so"


def sanitized(binary):
    # A sanitizer's runtime must come first in the process: LD_PRELOAD cannot
    # go before it, and it replaces malloc anyway.
    libs = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return any(name in libs for name in ("libasan", "libtsan", "libubsan"))


class HitAllocationTest(RelayTestCase):
    START_RELAY = False

    def setUp(self):
        if sanitized(relay_bin()):
            self.skipTest("relay is built with a sanitizer, which owns malloc")
        self.module = counting_module()
        self.assertTrue(self.module.exists(), "%s is built with relay (tests/meson.build)" % self.module)

    def allocations(self, name, hits, config, path, headers=None, settle=0):
        out = self.workdir / ("%s-%d.count" % (name, hits))
        relay = self.make_relay(config, name="%s-%d" % (name, hits),
                                env={"LD_PRELOAD": str(self.module), "COUNT_ALLOCATIONS_OUT": str(out)})
        type(self).relay = relay
        relay.start()
        try:
            conn = http.client.HTTPConnection(HOST, relay.port, timeout=10)
            for i in range(hits + 1):
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                self.assertEqual(resp.status, 200)
                self.assertEqual(len(body), 1024)
                if i > 0:
                    self.assertEqual(resp.getheader("X-Cache"), "HIT", "request %d" % i)
                elif settle:
                    # Disk: the body's first whole read after its file has
                    # aged checks it; the hits counted are the ones after.
                    wait_stored(relay.port, path, headers=headers)
                    time.sleep(settle)
                    conn.request("GET", path, headers=headers)
                    conn.getresponse().read()
            conn.close()
        finally:
            relay.stop()
        type(self).relay = None
        self.assertTrue(out.exists(), "relay exited without running its exit handlers")
        return int(out.read_text())

    def per_hit(self, name, config, extra_query="", headers=None, settle=0):
        # Like a real site's object: a long path and query, an ETag and
        # Last-Modified, a long field value (each longer than what a string
        # holds without allocating).
        path = ("/catalog/products/hit-allocations-%s?size=1024&cc=public,%%20max-age%%3D3600&etag=1&lm_ago=100"
                "&hdr=X-Backend-Server:app-server-17.internal.example.test&variant=blue%s" % (name, extra_query))
        few = self.allocations(name, FEW, config, path, headers, settle)
        many = self.allocations(name, MANY, config, path, headers, settle)
        return (many - few) / (MANY - FEW), few, many

    def check(self, name, config, extra_query="", headers=BROWSER, settle=0):
        per_hit, few, many = self.per_hit(name, config, extra_query, headers, settle)
        self.assertLessEqual(per_hit, ALLOWANCE,
                             "%.2f heap allocations per hit (%d for %d hits, %d for %d)" %
                             (per_hit, few, FEW, many, MANY))
        # The count is real: start-up alone allocates thousands of times.
        self.assertGreater(few, 1000)

    def test_hit_allocates_nothing(self):
        self.check("quiet", {"log": {"access_log": "off"}})

    def test_hit_with_access_log_allocates_nothing(self):
        self.check("logged", {"log": {"access_log": str(self.workdir / "access.log")}})

    def test_hit_on_a_variant_allocates_nothing(self):
        # Vary: the index entry first, then this request's variant.
        self.check("variant", {"log": {"access_log": "off"}}, "&hdr=Vary:Accept-Encoding,%20Accept-Language")

    def test_hit_on_a_tagged_object_allocates_nothing(self):
        # Purge tags are unpacked with the entry (and could be purged by).
        self.check("tagged", {"log": {"access_log": "off"}},
                   "&hdr=Surrogate-Key:product-000017%20category-shoes-and-boots%20brand-acme-footwear")

    def test_hit_from_the_disk_store_allocates_nothing(self):
        # A body checked once and still in the page cache: served from the
        # event loop through the descriptor kept open for it.
        self.check("disk", {"log": {"access_log": "off"},
                            "storage": {"backend": "disk",
                                        "disk": {"path": str(self.workdir / "disk-cache"),
                                                 "min_free_space": "0"}}},
                   settle=2.1)

    def h2_allocations(self, hits):
        out = self.workdir / ("h2-%d.count" % hits)
        relay = self.make_relay({"log": {"access_log": "off"}, "server": {"h2c": True}}, name="h2-%d" % hits,
                                env={"LD_PRELOAD": str(self.module), "COUNT_ALLOCATIONS_OUT": str(out)})
        type(self).relay = relay
        relay.start()
        try:
            url = "http://%s:%d/h2/hit-allocations?size=1024&cc=max-age%%3D3600" % (HOST, relay.port)
            for n in (1, hits):  # the miss, then the hits, each on one connection
                done = subprocess.run(["h2load", "-n", str(n), "-c", "1", "-m", "1", url],
                                      capture_output=True, text=True, timeout=60)
                self.assertIn("%d succeeded" % n, done.stdout, done.stdout + done.stderr)
        finally:
            relay.stop()
        type(self).relay = None
        self.assertTrue(out.exists(), "relay exited without running its exit handlers")
        return int(out.read_text())

    def test_http2_hit_allocates_at_most_four_times(self):
        # nghttp2, the stream object and its map entries come from the block
        # pool; a new stream's strings (request ID, target, response buffer)
        # are still its own.
        few, many = self.h2_allocations(FEW), self.h2_allocations(MANY)
        per_hit = (many - few) / (MANY - FEW)
        self.assertLessEqual(per_hit, 4.5, "%.2f heap allocations per HTTP/2 hit (%d for %d hits, %d for %d)" %
                             (per_hit, few, FEW, many, MANY))
        self.assertGreater(few, 1000)


if __name__ == "__main__":
    unittest.main()
