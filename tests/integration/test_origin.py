"""Self-test of the test origin (no relay involved), so that a failing relay
test can be told apart from a broken origin."""
import hashlib
import threading
import time
import unittest

from harness import RawConn, RelayTestCase, expected_body, get, request


class OriginSelfTest(RelayTestCase):
    START_RELAY = False

    def test_params_and_keep_alive(self):
        with RawConn(self.origin.port) as c:
            c.request("GET", "/o/a?status=404&size=1000&cc=max-age%3D60&hdr=X-Foo:bar")
            r = c.read_response()
            self.assertEqual((r.status, r.header("Cache-Control"), r.header("X-Foo")),
                             (404, "max-age=60", "bar"))
            self.assertEqual(r.body, expected_body("/o/a", 1000))
            c.request("GET", "/o/a?chunked=1&size=5000&drip=0.01&drip_size=1000")
            r = c.read_response()
            self.assertEqual(r.header("Transfer-Encoding"), "chunked")
            self.assertEqual(r.body, expected_body("/o/a", 5000))
            c.request("HEAD", "/o/a?size=7")
            r = c.read_response(method="HEAD")
            self.assertEqual((r.header("Content-Length"), r.body), ("7", b""))
        stats = self.origin.stats(path="/o/a")
        self.assertEqual(stats["count"], 3)
        self.assertEqual(stats["last"]["method"], "HEAD")
        self.assertEqual(self.origin.stats(target="/o/a?size=7")["count"], 1)

    def test_echo_with_chunked_body_and_expect(self):
        body = b"x" * 100000
        with RawConn(self.origin.port) as c:
            c.request("POST", "/echo", headers={"Transfer-Encoding": "chunked",
                                                "Expect": "100-continue"})
            self.assertEqual(c.read_response().status, 100)
            c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            echo = c.read_response().json()
        self.assertEqual(echo["body_length"], len(body))
        self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertIn(["Expect", "100-continue"], echo["headers"])
        r = request(self.origin.port, "PUT", "/echo/x", body=b"abc")
        self.assertEqual((r.json()["method"], r.json()["body_length"]), ("PUT", 3))

    def test_concurrent_delays_and_reset(self):
        out = []
        threads = [threading.Thread(target=lambda: out.append(
            get(self.origin.port, "/o/slow?delay=0.5").status)) for _ in range(5)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        self.assertEqual(out, [200] * 5)
        self.assertLess(time.monotonic() - start, 1.5)
        self.origin.reset()
        self.assertEqual(self.origin.stats()["total"], 0)


if __name__ == "__main__":
    unittest.main()
