"""HTTP/2 downstream (h2c with prior knowledge, `[server] h2c = true`):
curl, nghttp and h2load against relay, and a raw client (h2raw.py) for
what well-behaved clients never send. Covered: MISS then HIT with exact
bodies, many streams on few connections, request bodies both ways of
framing, cookies joined and Host from :authority, 103 Early Hints, 413 /
431 refusals, flow control (a stalled stream is reset and does not hold up
the others), idle and preface timeouts, and the abuse limits: rapid reset,
CONTINUATION flood and an HPACK bomb each cut their own connection only,
counted in relay_http2_abuse_total, while another client keeps getting
200s. A drain lets a request in flight finish after GOAWAY."""
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time

import h2raw
from harness import HOST, MiB, RelayTestCase, expected_body, metric, wait_until


def curl(port, target, *args, timeout=30):
    """curl over h2c: (status, version, headers as [(name, value)] of the
    final head, interim statuses, body)."""
    with tempfile.TemporaryDirectory() as d:
        head_path, body_path = os.path.join(d, "head"), os.path.join(d, "body")
        argv = ["curl", "-sS", "--http2-prior-knowledge", "-D", head_path, "-o", body_path,
                "--max-time", str(timeout), *args, "http://%s:%d%s" % (HOST, port, target)]
        done = subprocess.run(argv, capture_output=True, timeout=timeout + 5, input=None)
        if done.returncode != 0:
            raise AssertionError("curl failed (%d): %s" % (done.returncode, done.stderr.decode(errors="replace")))
        heads = [h for h in open(head_path, "rb").read().decode("latin-1").split("\r\n\r\n") if h.strip()]
        interim = [int(h.split(" ")[1]) for h in heads[:-1]]
        lines = heads[-1].split("\r\n")
        version, status = lines[0].split(" ")[0], int(lines[0].split(" ")[1])
        headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        return status, version, headers, interim, open(body_path, "rb").read()


def header(headers, name):
    values = [v for k, v in headers if k == name]
    return ", ".join(values) if values else None


class H2Case(RelayTestCase):
    RELAY_CONFIG = {"server": {"h2c": True}}

    def curl(self, target, *args, **kw):
        return curl(self.port, target, *args, **kw)

    def assert_healthy(self, path="/h2/healthy"):
        status, version, _, _, body = self.curl(path + "?size=1000")
        self.assertEqual((status, version), (200, "HTTP/2"))
        self.assertEqual(body, expected_body(path, 1000))

    def abuse(self, kind):
        return metric(self.relay.metrics(), "relay_http2_abuse_total", kind=kind) or 0


class BasicTest(H2Case):
    def test_miss_then_hit_with_exact_bodies(self):
        path = "/h2/basic"
        first = self.curl(path + "?size=200000&cc=max-age%3D60")
        second = self.curl(path + "?size=200000&cc=max-age%3D60")
        for status, version, headers, _, body in (first, second):
            self.assertEqual((status, version), (200, "HTTP/2"))
            self.assertEqual(body, expected_body(path, 200000))
            self.assertEqual(header(headers, "content-length"), "200000")
            self.assertIsNotNone(header(headers, "x-request-id"))
            self.assertIsNone(header(headers, "connection"), "no connection-specific field over HTTP/2")
        self.assertEqual(header(first[2], "x-cache"), "MISS")
        self.assertEqual(header(second[2], "x-cache"), "HIT")
        self.assertEqual(self.origin.count(path), 1)

    def test_h2load_many_streams_on_few_connections(self):
        done = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "10",
                               "http://%s:%d/h2/load?size=5000&cc=max-age%%3D60" % (HOST, self.port)],
                              capture_output=True, timeout=60)
        out = done.stdout.decode()
        self.assertIn("400 succeeded", out, out)
        self.assertIn("status codes: 400 2xx", out, out)

    def test_nghttp_concurrent_streams(self):
        urls = ["http://%s:%d/h2/nghttp/%d?size=%d" % (HOST, self.port, i, 1000 * (i + 1)) for i in range(8)]
        done = subprocess.run(["nghttp", "-n", "-s", *urls], capture_output=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors="replace"))
        self.assertEqual(done.stdout.decode().count(" 200 "), 8, done.stdout.decode())

    def test_request_body_reaches_origin_with_and_without_content_length(self):
        body = os.urandom(3 * MiB)
        with tempfile.NamedTemporaryFile() as f:
            f.write(body)
            f.flush()
            status, _, _, _, answer = self.curl("/echo/h2-post", "--data-binary", "@" + f.name)
            self.assertEqual(status, 200)
            echo = json.loads(answer)
            self.assertEqual(echo["method"], "POST")
            self.assertEqual(echo["body_length"], len(body))
            self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())
            # -T -: a body of unknown length (no content-length, DATA until END_STREAM)
            with open(f.name, "rb") as stdin:
                argv = ["curl", "-sS", "--http2-prior-knowledge", "-T", "-",
                        "http://%s:%d/echo/h2-put" % (HOST, self.port)]
                done = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=30)
            echo = json.loads(done.stdout)
            self.assertEqual(echo["method"], "PUT")
            self.assertEqual(echo["body_length"], len(body))
            self.assertEqual(echo["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_cookies_joined_and_host_from_authority(self):
        with h2raw.H2Conn(self.port) as c:
            c.request(1, "/echo/h2-cookie", extra=[("cookie", "a=1"), ("cookie", "b=2"), ("x-request-id", "h2-id-1")])
            status, body, _ = c.response(1)
        self.assertEqual(status, 200)
        echo = json.loads(body)
        got = {}
        for name, value in echo["headers"]:
            got.setdefault(name.lower(), []).append(value)
        self.assertEqual(got.get("cookie"), ["a=1; b=2"], "RFC 9113 §8.2.3: one cookie field, joined with '; '")
        self.assertEqual(got.get("host"), ["127.0.0.1:%d" % self.port])
        self.assertEqual(got.get("x-request-id"), ["h2-id-1"])

    def test_head_has_no_body(self):
        with h2raw.H2Conn(self.port) as c:
            c.request(1, "/h2/head?size=777", method="HEAD")
            status, body, frames = c.response(1)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual([f.type for f in frames], [h2raw.HEADERS], "HEAD: one HEADERS frame ending the stream")
        self.assertTrue(frames[0].flags & h2raw.END_STREAM)

    def test_early_hints_go_out_before_the_final_head(self):
        self.script("/h2/hints", {"status": 200, "body": "hinted",
                                  "interim": [{"status": 103, "headers": [["Link", "</s.css>; rel=preload"]]}]})
        status, _, _, interim, body = self.curl("/h2/hints")
        self.assertEqual((status, body), (200, b"hinted"))
        self.assertEqual(interim, [103])

    def test_connection_gauge_returns_to_zero(self):
        self.assert_healthy()
        wait_until(lambda: metric(self.relay.metrics(), "relay_client_connections", protocol="HTTP/2") == 0, 5,
                   what="the HTTP/2 connection gauge back at 0")


class RefusalTest(H2Case):
    RELAY_CONFIG = {"server": {"h2c": True, "max_body_size": "1KiB", "max_header_size": "4KiB"}}

    def test_declared_body_over_the_limit_is_413_without_the_origin(self):
        status, _, headers, _, body = self.curl("/echo/h2-413", "--data-binary", "x" * 10000)
        self.assertEqual(status, 413)
        self.assertEqual(header(headers, "content-type"), "application/problem+json")
        self.assertIn(b"content-too-large", body)
        self.assertEqual(self.origin.count("/echo/h2-413"), 0)
        self.assert_healthy()

    def test_upload_still_arriving_after_the_413_ends_cleanly_then_a_silent_one_is_reset(self):
        # curl 7.88 fails an upload cut by RST_STREAM even after a complete
        # response: the rest of a small body is taken, a body that stops
        # coming is reset with NO_ERROR after a moment.
        with h2raw.H2Conn(self.port) as c:
            c.request(1, "/echo/h2-linger", "POST", extra=[("content-length", "3000")], end_stream=False)
            _, body, frames = c.response(1, timeout=5)
            self.assertIn(b"content-too-large", body)  # 413 is not in HPACK's static table
            self.assertNotIn(h2raw.RST_STREAM, [f.type for f in frames])
            time.sleep(0.2)
            c.send_frame(h2raw.DATA, h2raw.END_STREAM, 1, b"z" * 3000)
            c.request(3, "/h2/after-linger?size=100")
            seen, _ = c.frames_until(lambda f: f.stream == 3 and f.flags & h2raw.END_STREAM, timeout=5)
            self.assertEqual([f for f in seen if f.type == h2raw.RST_STREAM], [], "a finished upload is not reset")

            c.request(5, "/echo/h2-linger-silent", "POST", extra=[("content-length", "3000")], end_stream=False)
            _, body, _ = c.response(5, timeout=5)
            self.assertIn(b"content-too-large", body)
            started = time.monotonic()
            _, rst = c.frames_until(lambda f: f.type == h2raw.RST_STREAM and f.stream == 5, timeout=5)
            self.assertIsNotNone(rst, "a body that stops coming is reset")
            self.assertEqual(rst.error_code(), h2raw.NO_ERROR)
            self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(self.origin.count("/echo/h2-linger"), 0)
        self.assert_healthy()

    def test_body_growing_past_the_limit_is_413(self):
        argv = ["curl", "-sS", "--http2-prior-knowledge", "-T", "-", "-o", "/dev/null", "-w", "%{http_code}",
                "http://%s:%d/echo/h2-413-grow" % (HOST, self.port)]
        done = subprocess.run(argv, input=b"y" * 20000, capture_output=True, timeout=30)
        self.assertEqual(done.stdout.decode(), "413")
        self.assert_healthy()

    def test_header_list_over_max_header_size_is_431(self):
        status, _, _, _, body = self.curl("/h2/431", "-H", "X-Big: " + "z" * 6000)
        self.assertEqual(status, 431)
        self.assertIn(b"header-fields-too-large", body)
        self.assertEqual(self.origin.count("/h2/431"), 0)
        self.assert_healthy()


class FlowControlTest(H2Case):
    RELAY_CONFIG = {"server": {"h2c": True, "idle_timeout": "1500ms"}}

    def test_stalled_stream_is_reset_and_does_not_hold_up_another(self):
        before = self.abuse("stalled")
        with h2raw.H2Conn(self.port) as c:
            c.window_update(0, 64 * MiB)  # the connection's window is wide open; stream 1's never moves
            c.request(1, "/h2/stall?size=%d" % (8 * MiB))
            c.request(3, "/h2/small?size=5000")
            status, body, _ = c.response(3, timeout=5)
            self.assertEqual(status, 200)
            self.assertEqual(body, expected_body("/h2/small", 5000))
            started = time.monotonic()
            _, rst = c.frames_until(lambda f: f.type == h2raw.RST_STREAM and f.stream == 1, timeout=10)
            self.assertIsNotNone(rst, "a stream whose window stays shut must be reset")
            self.assertLess(time.monotonic() - started, 6)
        wait_until(lambda: self.abuse("stalled") > before, 5, what="stalled counted")
        self.assert_healthy()


class TimeoutTest(H2Case):
    RELAY_CONFIG = {"server": {"h2c": True, "idle_timeout": "1s", "header_timeout": "1s"}}

    def test_idle_connection_gets_goaway_then_closes(self):
        with h2raw.H2Conn(self.port) as c:
            started = time.monotonic()
            _, goaway = c.frames_until(lambda f: f.type == h2raw.GOAWAY, timeout=5)
            self.assertIsNotNone(goaway)
            self.assertEqual(goaway.error_code(), h2raw.NO_ERROR)
            self.assertTrue(c.closed_by_peer(3))
            self.assertGreater(time.monotonic() - started, 0.8)

    def test_preface_without_settings_is_closed_after_header_timeout(self):
        import socket
        s = socket.create_connection((HOST, self.port), timeout=5)
        try:
            s.sendall(h2raw.PREFACE)
            started = time.monotonic()
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertLess(time.monotonic() - started, 4)
        finally:
            s.close()


class AbuseTest(H2Case):
    RELAY_CONFIG = {"server": {"h2c": True, "max_header_size": "4KiB",
                               "http2": {"max_resets_burst": 50, "max_resets_per_second": 5,
                                         "max_continuations": 4}}}

    def good_client_meanwhile(self, stop, results):
        while not stop.is_set():
            try:
                results.append(self.curl("/h2/bystander?size=100", timeout=10)[0])
            except AssertionError:
                results.append(None)
            time.sleep(0.02)

    def run_attack(self, attack):
        stop, results = threading.Event(), []
        bystander = threading.Thread(target=self.good_client_meanwhile, args=(stop, results))
        bystander.start()
        try:
            attack()
        finally:
            stop.set()
            bystander.join(30)
        self.assertTrue(results and all(s == 200 for s in results), "the bystander got %r" % results)
        self.assertTrue(self.relay.alive())
        self.assert_healthy()

    def test_rapid_reset_cuts_the_abuser(self):
        before = self.abuse("rapid_reset")

        def attack():
            with h2raw.H2Conn(self.port) as c:
                burst = b"".join(c.headers(sid, h2raw.request_fields(self.port, "/h2/rr?size=100")) + c.rst(sid)
                                 for sid in range(1, 2 * 400, 2))
                try:
                    c.send(burst)
                except OSError:
                    pass
                _, goaway = c.frames_until(lambda f: f.type == h2raw.GOAWAY, timeout=10)
                self.assertIsNotNone(goaway, "the reset flood must end in GOAWAY")
                self.assertNotEqual(goaway.error_code(), h2raw.NO_ERROR)
                self.assertTrue(c.closed_by_peer(5))

        self.run_attack(attack)
        wait_until(lambda: self.abuse("rapid_reset") > before, 5, what="rapid_reset counted")

    def test_continuation_flood_cuts_the_abuser(self):
        before = self.abuse("continuation_flood")

        def attack():
            with h2raw.H2Conn(self.port) as c:
                block = h2raw.header_block(h2raw.request_fields(self.port, "/h2/cont"))
                frames = [c.frame(h2raw.HEADERS, 0, 1, block)]
                frames += [c.frame(h2raw.CONTINUATION, 0, 1, h2raw.literal("x-pad-%d" % i, "v"))
                           for i in range(200)]
                try:
                    c.send(b"".join(frames))
                except OSError:
                    pass
                self.assertTrue(c.closed_by_peer(5), "a CONTINUATION chain past the limit must end the connection")

        self.run_attack(attack)
        wait_until(lambda: self.abuse("continuation_flood") > before, 5, what="continuation_flood counted")

    def test_hpack_bomb_cuts_the_abuser(self):
        before = self.abuse("header_flood")

        def attack():
            with h2raw.H2Conn(self.port) as c:
                # One 4000-byte field enters the dynamic table (literal with
                # incremental indexing), then 64 one-byte references to it:
                # 256 KB decoded from 4 KB sent.
                block = h2raw.header_block(h2raw.request_fields(self.port, "/h2/bomb"))
                block += b"\x40" + h2raw.hpack_string("x-bomb") + h2raw.hpack_string("b" * 4000)
                block += bytes([0x80 | 62]) * 64
                c.send(c.frame(h2raw.HEADERS, h2raw.END_HEADERS | h2raw.END_STREAM, 1, block))
                _, goaway = c.frames_until(lambda f: f.type == h2raw.GOAWAY, timeout=5)
                self.assertIsNotNone(goaway)
                self.assertEqual(goaway.error_code(), h2raw.ENHANCE_YOUR_CALM)
                self.assertTrue(c.closed_by_peer(5))

        self.run_attack(attack)
        self.assertEqual(self.origin.count("/h2/bomb"), 0)
        wait_until(lambda: self.abuse("header_flood") > before, 5, what="header_flood counted")


class DrainTest(H2Case):
    START_RELAY = False

    def test_sigterm_lets_the_stream_in_flight_finish(self):
        self.__class__.relay = self.make_relay({"server": {"h2c": True, "shutdown_grace": "5s"}}).start()
        result = {}

        def slow():
            result["r"] = self.curl("/h2/drain?size=3000&delay=1.5")

        with h2raw.H2Conn(self.port) as watcher:
            watcher.frames_until(lambda f: f.type == h2raw.SETTINGS and not f.flags & h2raw.ACK, timeout=5)
            t = threading.Thread(target=slow)
            t.start()
            wait_until(lambda: self.origin.count("/h2/drain") == 1, 5, what="the slow request at the origin")
            self.relay.signal(signal.SIGTERM)
            _, goaway = watcher.frames_until(lambda f: f.type == h2raw.GOAWAY, timeout=5)
            self.assertIsNotNone(goaway, "an idle HTTP/2 connection is told to go away on drain")
            self.assertEqual(goaway.error_code(), h2raw.NO_ERROR)
            t.join(10)
        status, _, _, _, body = result["r"]
        self.assertEqual(status, 200)
        self.assertEqual(body, expected_body("/h2/drain", 3000))
        self.assertIsNotNone(self.relay.wait(8), "relay must exit once the drain has ended")
