"""HTTP/1.1 behaviour: request bodies, 100-continue, forwarded headers,
hop-by-hop stripping, keep-alive, pipelining, concurrency, streamed bodies."""
import hashlib
import random
import threading
import time
import unittest

from harness import MiB, RelayTestCase, expected_body


def header_map(echo):
    """Lower-cased name -> list of values, from an /echo JSON document."""
    out = {}
    for name, value in echo["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


class RequestBodyTest(RelayTestCase):
    def test_post_1mib_passes_through_and_is_never_cached(self):
        body = random.Random(1).randbytes(1 * MiB)
        for _ in range(2):
            r = self.request("POST", "/echo/post?cc=max-age%3D60", body=body,
                             headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 200)
            self.assertNotEqual(r.header("X-Cache"), "HIT")
            echo = r.json()
            self.assertEqual(echo["method"], "POST")
            self.assertEqual(echo["body_length"], len(body))
            self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(self.origin.count("/echo/post"), 2)

    def test_chunked_request_body(self):
        sizes = [1, 100, 4096, 65536, 7, 300000]
        rng = random.Random(2)
        chunks = [rng.randbytes(n) for n in sizes]
        with self.raw() as c:
            c.request("POST", "/echo/chunked", headers={"Transfer-Encoding": "chunked"})
            for chunk in chunks:
                c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            c.send(b"0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        whole = b"".join(chunks)
        echo = r.json()
        self.assertEqual(echo["body_length"], len(whole))
        self.assertEqual(echo["body_sha256"], hashlib.sha256(whole).hexdigest())

    def test_expect_100_continue(self):
        body = random.Random(3).randbytes(200000)
        with self.raw(timeout=5) as c:
            c.request("POST", "/echo/expect", headers={"Content-Length": str(len(body)),
                                                       "Expect": "100-continue"})
            interim = c.read_response()
            self.assertEqual(interim.status, 100, "expected 100 Continue before the body")
            self.assertTrue(interim.raw_head.startswith(b"HTTP/1.1 100"), interim.raw_head)
            c.send(body)
            r = c.read_response()
        self.assertEqual(r.status, 200)
        echo = r.json()
        self.assertEqual(echo["body_length"], len(body))
        self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())


class ForwardedHeadersTest(RelayTestCase):
    def test_via_forwarded_for_proto_and_generated_request_id(self):
        r = self.get("/echo/fwd")
        self.assertEqual(r.status, 200)
        h = header_map(r.json())
        self.assertIn("relay", ", ".join(h.get("via", [])).lower())
        self.assertIn("127.0.0.1", ", ".join(h.get("x-forwarded-for", [])))
        self.assertEqual(h.get("x-forwarded-proto"), ["http"])
        rid = h.get("x-request-id", [""])
        self.assertEqual(len(rid), 1)
        self.assertTrue(rid[0].strip(), "X-Request-ID generated")
        self.assertEqual(r.header("X-Request-ID"), rid[0], "response carries the same id")

    def test_request_ids_differ_between_requests(self):
        a = self.get("/echo/fwd2").header("X-Request-ID")
        b = self.get("/echo/fwd2").header("X-Request-ID")
        self.assertTrue(a and b)
        self.assertNotEqual(a, b)

    def test_client_request_id_is_propagated(self):
        r = self.get("/echo/rid", headers={"X-Request-ID": "test-rid-12345"})
        self.assertEqual(header_map(r.json()).get("x-request-id"), ["test-rid-12345"])
        self.assertEqual(r.header("X-Request-ID"), "test-rid-12345")

    def test_forwarded_for_from_an_untrusted_peer_is_overwritten(self):
        # No [server] trusted_proxies: a chain the client wrote is not passed on.
        r = self.get("/echo/xff", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
        fields = header_map(r.json())
        self.assertEqual(fields.get("x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(fields.get("x-forwarded-proto"), ["http"])

    def test_absolute_form_target_reaches_origin_as_origin_form(self):
        # RFC 9112 3.2.2: a proxy must accept absolute-form; the origin gets a path.
        with self.raw() as c:
            c.request("GET", "http://example.test/echo/abs?x=1", headers=[("Host", "example.test")])
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["target"], "/echo/abs?x=1")

    def test_target_is_forwarded_as_normalised_and_keyed(self):
        # What is keyed is what is forwarded (the safety issue replaced the
        # byte-for-byte rule): dot segments removed, unreserved characters
        # decoded, reserved ones kept encoded, the query in received order.
        r = self.get("/echo/a/./b/%7Efoo?q=%41&q=1&r=%2F")
        self.assertEqual(r.json()["target"], "/echo/a/b/~foo?q=A&q=1&r=%2F")

    def test_hop_by_hop_headers_are_not_forwarded(self):
        with self.raw() as c:
            c.request("GET", "/echo/hop", headers=[
                ("Connection", "keep-alive, X-Secret"),
                ("X-Secret", "1"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Upgrade", "h2c"),
                ("Proxy-Connection", "keep-alive"),
                ("X-Normal", "kept"),
            ])
            r = c.read_response()
        self.assertEqual(r.status, 200)
        h = header_map(r.json())
        self.assertEqual(h.get("x-normal"), ["kept"])
        for name in ("x-secret", "keep-alive", "te", "upgrade", "proxy-connection"):
            self.assertNotIn(name, h, "%s must not be forwarded" % name)
        self.assertNotIn("x-secret", ", ".join(h.get("connection", [])).lower())


class ConnectionTest(RelayTestCase):
    def test_keep_alive_several_requests_on_one_socket(self):
        with self.raw() as c:
            for i in range(6):
                path = "/k/%d" % (i % 3)
                c.request("GET", "%s?size=%d&cc=max-age%%3D60" % (path, 500 + i))
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, expected_body(path, 500 + i))
                self.assertNotIn("close", (r.header("Connection") or "").lower())

    def test_pipelined_requests_answered_in_order(self):
        targets = [("/pl/1", "?delay=0.3&size=1000"), ("/pl/2", "?size=2000&chunked=1"),
                   ("/pl/3", "?size=3000")]
        data = b"".join(b"GET %s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (p.encode(), q.encode())
                        for p, q in targets)
        with self.raw() as c:
            c.send(data)
            for (path, q), size in zip(targets, (1000, 2000, 3000)):
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("X-Origin-Path"), path)
                self.assertEqual(r.body, expected_body(path, size))

    def test_connection_close_is_honoured(self):
        with self.raw() as c:
            c.request("GET", "/cc/close?size=10", headers={"Connection": "close"})
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(c.closed_by_peer(3.0), "relay should close after Connection: close")

    def test_http10_without_keep_alive_is_closed(self):
        with self.raw() as c:
            c.send(b"GET /cc/h10?size=10 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, expected_body("/cc/h10", 10))
            self.assertTrue(c.closed_by_peer(3.0), "HTTP/1.0 connection should be closed")

    def test_concurrent_slow_requests_are_not_serialized(self):
        results = []

        def one(i):
            try:
                results.append(self.get("/conc/%d?delay=0.5&size=10" % i).status)
            except Exception as e:  # noqa: BLE001 - reported below
                results.append(repr(e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        took = time.monotonic() - start
        self.assertEqual(results, [200] * 8)
        self.assertLess(took, 2.0, "8 x 0.5s origin delays took %.2fs" % took)

    def test_dripped_chunked_origin_body(self):
        with self.raw() as c:
            c.request("GET", "/drip/a?size=20000&chunked=1&drip=0.02&drip_size=2000")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, expected_body("/drip/a", 20000))


if __name__ == "__main__":
    unittest.main()
