"""Slow request bodies: server.body_timeout and server.min_body_rate end a
trickled upload with 408."""
import select
import time

from harness import RawConn, RelayTestCase, metric


def trickle(port, path, length, interval, max_sends, piece=b"x", timeout=20.0):
    """POST announcing `length` body bytes, sent `piece` by `piece` every
    `interval` seconds until relay answers or closes (at most max_sends
    pieces). Returns (status or None, seconds until the answer, bytes sent,
    connection closed after the answer)."""
    with RawConn(port, timeout=timeout) as c:
        c.send(("POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (path, length)).encode())
        start = time.monotonic()
        sent = 0
        for _ in range(max_sends):
            readable, _, _ = select.select([c.sock], [], [], interval)
            if readable or sent >= length:
                break
            try:
                c.send(piece)
            except OSError:
                break
            sent += len(piece)
        try:
            resp = c.read_response("POST")
        except (ConnectionError, ValueError, OSError):
            return None, time.monotonic() - start, sent, True
        took = time.monotonic() - start
        return resp.status, took, sent, resp.status >= 400 and c.closed_by_peer(3.0)


class BodyTimeoutTest(RelayTestCase):
    RELAY_CONFIG = {"server": {"body_timeout": "1s", "min_body_rate": "1KiB"}}

    def test_trickled_body_gets_408_and_is_counted(self):
        status, took, sent, closed = trickle(self.port, "/b/trickle", 1000, 0.1, 100)
        self.assertEqual(status, 408, "a 1-byte-per-100ms upload must be cut (sent %d bytes)" % sent)
        self.assertGreater(took, 0.8, "cut after %.2fs with body_timeout=1s" % took)
        self.assertLess(took, 3.0, "cut after %.2fs with body_timeout=1s" % took)
        self.assertTrue(closed, "the connection must close after a 408")
        text = self.relay.metrics()
        self.assertGreaterEqual(metric(text, "relay_client_timeouts_total", phase="body") or 0, 1)
        log = self.relay.stderr_path.read_text(errors="replace")
        self.assertIn("server.body_timeout", log)

    def test_steady_upload_above_min_body_rate_outlasts_body_timeout(self):
        # 3 KiB at ~2 KiB/s takes 1.5 s: past body_timeout, but every KiB
        # received buys a second.
        status, took, sent, _ = trickle(self.port, "/echo/steady", 3072, 0.125, 40, piece=b"y" * 256)
        self.assertEqual(sent, 3072)
        self.assertEqual(status, 200, "an upload above min_body_rate was cut after %.2fs" % took)
        self.assertGreater(took, 1.2)
        last = self.origin.requests("/echo/steady")[-1]
        self.assertEqual(last["method"], "POST")
