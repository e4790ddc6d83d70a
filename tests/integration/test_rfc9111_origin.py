"""Self-test of the origin features the RFC 9111 tests rely on (no relay
involved): scripts, conditional answers, Date/Expires/Last-Modified params,
request history, ranges and restarting on the same port."""
import time
import unittest

from harness import (RawConn, RelayTestCase, expected_body, get, http_date, parse_http_date,
                     port_open, request, request_header, target_for)

LONG_AGO = 1_000_000_000


class OriginRfcSelfTest(RelayTestCase):
    START_RELAY = False

    def oget(self, target, headers=None, method="GET"):
        return request(self.origin.port, method, target, headers=headers)

    def test_script_steps_then_last_repeats(self):
        self.origin.script("/os/seq", [
            {"body": "one", "headers": [["Cache-Control", "max-age=1"], ["X-V", "1"]]},
            {"status": 503, "body": "two"},
        ])
        a, b, c = (self.oget("/os/seq?anything=%d" % i) for i in range(3))
        self.assertEqual((a.status, a.body, a.header("X-V"), a.header("Cache-Control")),
                         (200, b"one", "1", "max-age=1"))
        self.assertEqual((b.status, b.body), (503, b"two"))
        self.assertEqual((c.status, c.body), (503, b"two"))
        self.assertEqual(a.header("Content-Length"), "3")
        self.assertEqual(self.origin.count("/os/seq"), 3)
        self.origin.unscript("/os/seq")
        self.assertEqual(self.oget("/os/seq?size=7").body, expected_body("/os/seq", 7))

    def test_script_conditionals(self):
        lm = http_date(LONG_AGO)
        self.origin.script("/os/cond", [{"body": "payload", "etag": 'W/"e1"', "last_modified": lm,
                                         "headers": [["Cache-Control", "max-age=5"]],
                                         "headers_304": [["Cache-Control", "max-age=60"],
                                                         ["X-New", "yes"]]}])
        full = self.oget("/os/cond")
        self.assertEqual((full.status, full.header("ETag"), full.header("Last-Modified")),
                         (200, 'W/"e1"', lm))
        nm = self.oget("/os/cond", headers={"If-None-Match": '"x", "e1"'})
        self.assertEqual((nm.status, nm.body, nm.header("Cache-Control"), nm.header("X-New")),
                         (304, b"", "max-age=60", "yes"))
        self.assertIsNone(nm.header("Content-Type"))
        self.assertIsNone(nm.header("Content-Length"))
        self.assertEqual(self.oget("/os/cond", headers={"If-None-Match": '"zz"'}).status, 200)
        self.assertEqual(self.oget("/os/cond", headers={"If-Modified-Since": lm}).status, 304)
        early = http_date(LONG_AGO - 10)
        self.assertEqual(self.oget("/os/cond", headers={"If-Modified-Since": early}).status, 200)
        # If-None-Match wins over If-Modified-Since.
        both = self.oget("/os/cond", headers={"If-None-Match": '"zz"', "If-Modified-Since": lm})
        self.assertEqual(both.status, 200)
        hist = self.origin.requests("/os/cond")
        self.assertEqual([h["status"] for h in hist], [200, 304, 200, 304, 200, 200])
        self.assertEqual(request_header(hist[1], "If-None-Match"), '"x", "e1"')

    def test_query_date_params(self):
        r = self.oget(target_for("/os/dates", lm=LONG_AGO, expires=60, date_ago=100,
                                 etagv='"q1"'))
        date = parse_http_date(r.header("Date"))
        self.assertAlmostEqual(date, time.time() - 100, delta=3)
        self.assertEqual(parse_http_date(r.header("Expires")), date + 60)
        self.assertEqual(parse_http_date(r.header("Last-Modified")), LONG_AGO)
        self.assertEqual(r.header("ETag"), '"q1"')
        t = target_for("/os/dates", lm=LONG_AGO)
        self.assertEqual(self.oget(t, headers={"If-Modified-Since": http_date(LONG_AGO)}).status,
                         304)
        r = self.oget(target_for("/os/dates2", lm_ago=36000, nodate=1))
        self.assertIsNone(r.header("Date"))
        self.assertAlmostEqual(parse_http_date(r.header("Last-Modified")), time.time() - 36000,
                               delta=3)

    def test_ranges(self):
        full = expected_body("/os/range", 1000)
        r = self.oget("/os/range?size=1000&ranges=1", headers={"Range": "bytes=10-19"})
        self.assertEqual((r.status, r.header("Content-Range"), r.body),
                         (206, "bytes 10-19/1000", full[10:20]))
        r = self.oget("/os/range?size=1000&ranges=1", headers={"Range": "bytes=-5"})
        self.assertEqual((r.status, r.body), (206, full[995:]))
        r = self.oget("/os/range?size=1000&ranges=1", headers={"Range": "bytes=2000-"})
        self.assertEqual((r.status, r.header("Content-Range")), (416, "bytes */1000"))
        r = self.oget("/os/range?size=1000&ranges=1", headers={"Range": "bytes=0-1,5-6"})
        self.assertEqual((r.status, r.body), (200, full))
        self.origin.script("/os/range2", [{"size": 300, "ranges": True}])
        r = self.oget("/os/range2", headers={"Range": "bytes=290-"})
        self.assertEqual((r.status, r.header("Content-Range"), r.body),
                         (206, "bytes 290-299/300", expected_body("/os/range2", 300)[290:]))

    def test_restart_keeps_port(self):
        port = self.origin.port
        self.origin.stop()
        self.assertFalse(port_open(port))
        self.origin.start(port=port)
        self.assertEqual(self.origin.port, port)
        self.assertEqual(get(port, "/os/after").status, 200)
        with RawConn(port) as c:
            c.request("GET", "/os/after2?size=3")
            self.assertEqual(c.read_response().body, expected_body("/os/after2", 3))


if __name__ == "__main__":
    unittest.main()
