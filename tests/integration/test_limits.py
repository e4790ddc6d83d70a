"""Slow request bodies and the origin connection cap: server.body_timeout and
server.min_body_rate end a trickled upload with 408; upstream.max_connections
bounds the connections the origin sees, whatever the number of clients, and
requests wait in a queue for at most upstream.queue_timeout (then 503)."""
import http.client
import json
import select
import time

from harness import HOST, RawConn, RelayTestCase, metric, run_concurrently


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


def origin_connections(origin):
    conn = http.client.HTTPConnection(HOST, origin.port, timeout=10)
    try:
        conn.request("GET", "/__connections")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


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


class UpstreamConnectionCapTest(RelayTestCase):
    RELAY_CONFIG = {
        "server": {"body_timeout": "1s", "min_body_rate": 0},
        "upstream": {"max_connections": 4, "queue_timeout": "30s"},
    }

    def test_twenty_slow_uploads_never_open_more_than_four_origin_connections(self):
        self.origin.reset()
        uploads = 20
        results = run_concurrently(
            lambda i: trickle(self.port, "/cap/upload", 1000, 0.1, 200), uploads, timeout=40)
        statuses = [r[0] if isinstance(r, tuple) else r for r in results]
        self.assertEqual(statuses, [408] * uploads, "every trickled upload ends with 408")
        seen = origin_connections(self.origin)
        self.assertLessEqual(seen["max"], 4, "origin saw %r with upstream.max_connections = 4" % seen)
        self.assertGreaterEqual(seen["max"], 1)
        text = self.relay.metrics()
        self.assertGreaterEqual(metric(text, "relay_upstream_queued_requests_total") or 0, uploads - 4)
        self.assertEqual(metric(text, "relay_upstream_queued_requests"), 0)

    def test_parallel_requests_share_the_capped_pool(self):
        self.origin.reset()
        results = run_concurrently(lambda i: self.get("/cap/get%d?delay=0.3&cc=no-store" % i), 12)
        self.assertEqual([r.status for r in results], [200] * 12)
        self.assertLessEqual(origin_connections(self.origin)["max"], 4)


class UpstreamConnectionCapThreadsTest(RelayTestCase):
    # Two event loops, each with its own curl pool: the cap still holds in all.
    RELAY_CONFIG = {"server": {"threads": 2}, "upstream": {"max_connections": 3, "queue_timeout": "30s"}}

    def test_cap_holds_across_event_loop_threads(self):
        self.origin.reset()
        results = run_concurrently(lambda i: self.get("/cap2/get%d?delay=0.3&cc=no-store" % i), 16)
        self.assertEqual([r.status for r in results], [200] * 16)
        seen = origin_connections(self.origin)
        self.assertLessEqual(seen["max"], 3, "origin saw %r with upstream.max_connections = 3" % seen)


class QueueTimeoutTest(RelayTestCase):
    # One loop: max_connections is per event loop.
    RELAY_CONFIG = {"server": {"threads": 1}, "upstream": {"max_connections": 1, "queue_timeout": "500ms"}}

    def test_request_queued_longer_than_queue_timeout_gets_503(self):
        def one(i):
            if i == 0:
                return self.get("/q/slow?delay=2&cc=no-store")
            time.sleep(0.3)
            start = time.monotonic()
            return self.get("/q/other?cc=no-store"), time.monotonic() - start

        slow, (other, took) = run_concurrently(one, 2)
        self.assertEqual(slow.status, 200)
        self.assertEqual(other.status, 503, other.body)
        self.assertIn(b"upstream.max_connections", other.body)
        self.assertGreater(took, 0.4)
        self.assertLess(took, 1.8)
        self.assertEqual(self.origin.count("/q/other"), 0)
        text = self.relay.metrics()
        self.assertEqual(metric(text, "relay_upstream_errors_total", reason="queue"), 1)

    def test_request_queued_shorter_than_queue_timeout_is_served(self):
        self.origin.reset()
        results = run_concurrently(lambda i: self.get("/q/short%d?delay=0.2&cc=no-store" % i), 2)
        self.assertEqual([r.status for r in results], [200, 200])
        self.assertEqual(origin_connections(self.origin)["max"], 1)
