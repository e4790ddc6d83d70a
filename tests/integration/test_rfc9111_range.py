"""Range requests (RFC 9110 §14, RFC 9111 §3.3-3.4): single byte ranges
served from a complete stored response, 416, If-Range, ignored Range
headers, and Range requests that miss (a 206 from the origin is never
stored nor replayed as a full 200)."""
import unittest

from harness import RelayTestCase, expected_body, http_date, target_for as T

LONG_AGO = 1_000_000_000
LM = http_date(LONG_AGO)
SIZE = 1000


class RangeTest(RelayTestCase):

    def stored(self, path):
        """Store a 1000-byte object with a strong ETag and Last-Modified."""
        self.script(path, {"size": SIZE, "etag": '"r1"', "last_modified": LM,
                           "headers": [["Cache-Control", "max-age=60"]]})
        self.assertXCache(self.get(path), "MISS")
        return expected_body(path, SIZE)

    def test_single_ranges_from_a_stored_response(self):
        path = "/rg/single"
        full = self.stored(path)
        cases = (("bytes=0-99", 0, 99), ("bytes=100-199", 100, 199), ("bytes=0-0", 0, 0),
                 ("bytes=900-", 900, 999), ("bytes=-100", 900, 999), ("bytes=990-5000", 990, 999),
                 ("bytes=-5000", 0, 999))
        for spec, first, last in cases:
            with self.subTest(range=spec):
                r = self.get(path, headers={"Range": spec})
                self.assertEqual(r.status, 206)
                self.assertXCache(r, "HIT")
                self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, SIZE))
                self.assertEqual(r.header("Content-Length"), str(last - first + 1))
                self.assertEqual(r.body, full[first:last + 1])
                self.assertEqual(r.header("ETag"), '"r1"')
        self.assertEqual(self.origin.count(path), 1)

    def test_unsatisfiable_range_is_416(self):
        path = "/rg/416"
        self.stored(path)
        for spec in ("bytes=1000-1100", "bytes=5000-"):
            with self.subTest(range=spec):
                r = self.get(path, headers={"Range": spec})
                self.assertEqual(r.status, 416)
                self.assertEqual(r.header("Content-Range"), "bytes */%d" % SIZE)
        self.assertEqual(self.origin.count(path), 1)

    def test_if_range(self):
        path = "/rg/ifrange"
        full = self.stored(path)
        cases = (('"r1"', 206), ('"other"', 200), ('W/"r1"', 200),  # weak never matches
                 (LM, 206), (http_date(LONG_AGO + 3600), 200))
        for if_range, status in cases:
            with self.subTest(if_range=if_range):
                r = self.get(path, headers={"Range": "bytes=10-19", "If-Range": if_range})
                self.assertEqual(r.status, status)
                if status == 206:
                    self.assertEqual(r.header("Content-Range"), "bytes 10-19/%d" % SIZE)
                    self.assertEqual(r.body, full[10:20])
                else:
                    self.assertIsNone(r.header("Content-Range"))
                    self.assertEqual(r.body, full)
        self.assertEqual(self.origin.count(path), 1)

    def test_ignored_range_headers_get_the_full_body(self):
        path = "/rg/ignored"
        full = self.stored(path)
        for spec in ("bytes=0-9,20-29", "bytes=abc", "items=0-9", "bytes=20-10"):
            with self.subTest(range=spec):
                r = self.get(path, headers={"Range": spec})
                self.assertEqual(r.status, 200)
                self.assertXCache(r, "HIT")
                self.assertIsNone(r.header("Content-Range"))
                self.assertEqual(r.body, full)
        self.assertEqual(self.origin.count(path), 1)

    def check_range_answer(self, r, full, first, last):
        if r.status == 206:
            self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, SIZE))
            self.assertEqual(r.body, full[first:last + 1])
        else:
            self.assertEqual(r.status, 200, "a Range request got %d" % r.status)
            self.assertEqual(r.body, full)

    def test_range_request_on_a_miss(self):
        t = T("/rg/miss", cc="max-age=60", size=SIZE, ranges=1)
        full = expected_body("/rg/miss", SIZE)
        self.check_range_answer(self.get(t, headers={"Range": "bytes=10-19"}), full, 10, 19)
        for _ in range(2):
            r = self.get(t)
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("Content-Range"))
            self.assertEqual(r.body, full)
        self.check_range_answer(self.get(t, headers={"Range": "bytes=500-"}), full, 500, 999)


if __name__ == "__main__":
    unittest.main()
