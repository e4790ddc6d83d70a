"""Client errors (400, 431, 414, header timeout) and upstream errors (502, 504)."""
import time
import unittest

from harness import RelayTestCase, free_port


class ClientErrorTest(RelayTestCase):
    RELAY_CONFIG = {
        "server": {"max_header_size": "4KiB", "max_url_length": 1024, "header_timeout": "1s"},
        "upstream": {"first_byte_timeout": "1s"},
    }

    def send_raw(self, data):
        """Send bytes, read one response, report whether the relay then closed."""
        with self.raw(timeout=5) as c:
            c.send(data)
            r = c.read_response()
            return r, c.closed_by_peer(3.0)

    def test_garbage_request_line_is_400_and_closed(self):
        r, closed = self.send_raw(b"GARBAGE\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertTrue(closed, "connection must be closed after a 400")

    def test_bad_header_line_is_400_and_closed(self):
        r, closed = self.send_raw(b"GET /e/x HTTP/1.1\r\nHost: a\r\nthis is not a header\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertTrue(closed, "connection must be closed after a 400")

    def test_oversized_header_section_is_431(self):
        r, _ = self.send_raw(b"GET /e/big HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 8000
                             + b"\r\n\r\n")
        self.assertEqual(r.status, 431)
        self.assertEqual(self.origin.count("/e/big"), 0)

    def test_many_headers_over_limit_is_431(self):
        lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(60))
        r, _ = self.send_raw(b"GET /e/many HTTP/1.1\r\nHost: a\r\n" + lines + b"\r\n")
        self.assertEqual(r.status, 431)

    def test_long_target_is_414(self):
        r, _ = self.send_raw(b"GET /e/" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(r.status, 414)

    def test_target_just_under_limit_is_fine(self):
        target = "/e/ok?pad=" + "b" * 900
        self.assertEqual(self.get(target).status, 200)

    def test_partial_head_times_out(self):
        with self.raw(timeout=5) as c:
            c.send(b"GET /e/slowloris HTTP/1.1\r\nHost: a\r\n")
            start = time.monotonic()
            closed = c.closed_by_peer(4.0)
            took = time.monotonic() - start
            self.assertTrue(closed, "relay must close a connection with an incomplete head")
            self.assertLess(took, 3.0, "closed after %.2fs with header_timeout=1s" % took)
            self.assertGreater(took, 0.5, "closed too early (%.2fs)" % took)
            if c.buf:  # an optional 408 before closing
                self.assertTrue(c.buf.startswith(b"HTTP/1.1 408"), c.buf[:100])

    def test_slow_origin_is_504(self):
        start = time.monotonic()
        r = self.get("/e/slow?delay=3")
        took = time.monotonic() - start
        self.assertEqual(r.status, 504)
        self.assertLess(took, 2.8, "504 after %.2fs with first_byte_timeout=1s" % took)

    def test_relay_still_serves_after_errors(self):
        self.send_raw(b"GARBAGE\r\n\r\n")
        r = self.get("/e/after?size=10")
        self.assertEqual(r.status, 200)


class DeadOriginTest(RelayTestCase):
    @classmethod
    def relay_config(cls):
        dead = "http://127.0.0.1:%d" % free_port()  # nothing listens there
        return {"upstream": {"url": dead, "connect_timeout": "2s"}}

    def test_dead_origin_is_502_with_short_body(self):
        start = time.monotonic()
        r = self.get("/d/x")
        self.assertEqual(r.status, 502)
        self.assertLess(time.monotonic() - start, 3.0)
        self.assertGreater(len(r.body), 0, "502 should carry a short explanatory body")
        self.assertLess(len(r.body), 1024)
        self.assertNotEqual(r.header("X-Cache"), "HIT")


if __name__ == "__main__":
    unittest.main()
