"""WebSocket (and other protocol upgrades) through relay: the handshake
reaches the origin with its Upgrade fields, a 101 turns the connection into
a byte tunnel both ways (text, binary, fragmented 1 MiB messages, the
close handshake), a refusal passes through uncached, upgrades outside
[server] upgrades are stripped as before, the tunnel metrics move, an idle
tunnel is closed after server.tunnel_idle_timeout, and a drain closes
tunnels before server.shutdown_grace ends. The origin is ws_origin.py."""
import http.client
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

from harness import HERE, HOST, MiB, Origin, Process, RawConn, RelayTestCase, metric, port_open, wait_until
import wsproto


class WsOrigin(Origin):
    """ws_origin.py, started and watched as origin.py is."""

    def __init__(self, workdir, tls=None):
        Process.__init__(self, "ws_origin", workdir)
        self.port = None
        self.tls = tls  # (certificate file, key file): an https:// origin

    def argv(self, port, port_file):
        argv = [sys.executable, str(HERE / "ws_origin.py"), "--port", str(port), "--port-file", str(port_file)]
        if self.tls:
            argv += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        return argv

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", HOST, self.port)

    def get_json(self, target):
        if self.tls:
            conn = http.client.HTTPSConnection(HOST, self.port, timeout=10,
                                               context=ssl._create_unverified_context())  # the test's own origin
            try:
                conn.request("GET", target)
                return json.loads(conn.getresponse().read())
            finally:
                conn.close()
        with RawConn(self.port) as c:
            c.request("GET", target)
            return c.read_response().json()


class WsCase(RelayTestCase):
    """A relay in front of ws_origin.py (the base class's origin stays idle)."""

    START_RELAY = False
    WS_CONFIG = {}
    WS_ENV = {}

    @classmethod
    def origin_tls(cls):
        return None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws = WsOrigin(cls.workdir, tls=cls.origin_tls())
        try:
            cls.ws.start()
            cls.relay = cls.make_relay(cls.WS_CONFIG, env=cls.WS_ENV, upstream=cls.ws.url).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        ws = getattr(cls, "ws", None)
        if ws is not None:
            ws.stop()
        super().tearDownClass()

    def diagnostics(self):
        return super().diagnostics() + "\n" + self.ws.logs()

    def connect(self, target="/ws/echo", **kw):
        client = wsproto.Client(self.relay.port, timeout=kw.pop("timeout", 10.0))
        status = client.handshake(target, **kw)
        return client, status

    def metrics_text(self):
        return self.relay.metrics()


class TunnelTest(WsCase):
    def test_text_and_binary_messages_echo_through_relay(self):
        client, status = self.connect("/ws/echo")
        with client:
            self.assertEqual(status, 101)
            self.assertEqual(client.header("Upgrade").lower(), "websocket")
            self.assertEqual(client.header("Connection").lower(), "upgrade")
            self.assertEqual(client.header("Sec-WebSocket-Accept"), wsproto.accept_key(client.key))
            self.assertIsNotNone(client.header("X-Request-ID"))
            self.assertIsNone(client.header("X-Cache"), "a 101 is not a cache answer")
            client.send(wsproto.TEXT, "héllo, relay".encode())
            self.assertEqual(client.recv(), (wsproto.TEXT, "héllo, relay".encode(), False))
            binary = bytes(range(256)) * 3
            client.send(wsproto.BINARY, binary)
            self.assertEqual(client.recv(), (wsproto.BINARY, binary, False))
            client.send(wsproto.PING, b"are you there")
            self.assertEqual(client.recv(), (wsproto.PONG, b"are you there", False))

    def test_one_mib_message_is_byte_exact_whole_and_fragmented(self):
        client, status = self.connect("/ws/big")
        with client:
            self.assertEqual(status, 101)
            for fragments in (1, 7):
                payload = os.urandom(MiB)
                client.send(wsproto.BINARY, payload, fragments=fragments)
                opcode, echoed, _ = client.recv()
                self.assertEqual(opcode, wsproto.BINARY)
                self.assertEqual(len(echoed), MiB)
                self.assertTrue(echoed == payload, "1 MiB in %d fragment(s) came back altered" % fragments)

    def test_close_handshake_completes_and_both_connections_end(self):
        before = self.ws.get_json("/__conns")["upgraded"]
        client, status = self.connect("/ws/close")
        with client:
            self.assertEqual(status, 101)
            opcode, payload, masked, eof = client.close_handshake(1000)
            self.assertEqual(opcode, wsproto.CLOSE)
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 1000)
            self.assertFalse(masked)
            self.assertTrue(eof, "relay closes the client connection once the origin has")
        self.assertEqual(self.ws.get_json("/__conns")["upgraded"], before + 1)
        wait_until(lambda: self.ws.get_json("/__conns")["open"] == 0, 5, what="origin side closed")

    def test_origin_bytes_right_behind_its_101_reach_the_client(self):
        client, status = self.connect("/ws/greet/1")
        with client:
            self.assertEqual(status, 101)
            self.assertEqual(client.recv(), (wsproto.TEXT, b"hello", False))
            client.send(wsproto.TEXT, b"after")
            self.assertEqual(client.recv(), (wsproto.TEXT, b"after", False))

    def test_client_frames_sent_with_the_handshake_are_not_lost(self):
        # The parser has read them with the head: they must go first into the tunnel.
        key = wsproto.new_key()
        head = ("GET /ws/eager HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode()
        frames = wsproto.encode_frame(wsproto.TEXT, b"first", True) + wsproto.encode_frame(wsproto.TEXT, b"second", True)
        with socket.create_connection((HOST, self.relay.port), timeout=10) as s:
            s.sendall(head + frames)
            buf = b""
            for _ in range(1000):
                if b"\r\n\r\n" in buf:
                    break
                chunk = s.recv(65536)
                self.assertTrue(chunk, "closed before the 101")
                buf += chunk
            status_line, _, rest = buf.partition(b"\r\n")
            self.assertIn(b" 101 ", status_line)
            reader = wsproto.FrameReader(s, buf.partition(b"\r\n\r\n")[2])
            self.assertEqual(reader.message(), (wsproto.TEXT, b"first", False))
            self.assertEqual(reader.message(), (wsproto.TEXT, b"second", False))

    def test_handshake_reaches_the_origin_normalised_with_its_upgrade_fields(self):
        client, status = self.connect("/ws/a/../fields?x=1", extra=[("Sec-WebSocket-Protocol", "chat"),
                                                                    ("X-Forwarded-For", "203.0.113.9")])
        with client:
            self.assertEqual(status, 101)
            last = self.ws.get_json("/__last")
        fields = {}
        for name, value in last["headers"]:
            fields.setdefault(name.lower(), []).append(value)
        self.assertEqual(last["method"], "GET")
        self.assertEqual(last["target"], "/ws/fields?x=1", "what is matched is what is forwarded")
        self.assertEqual(fields["upgrade"], ["websocket"])
        self.assertEqual(fields["connection"], ["Upgrade"])
        self.assertEqual(fields["sec-websocket-key"], [client.key])
        self.assertEqual(fields["sec-websocket-version"], ["13"])
        self.assertEqual(fields["sec-websocket-protocol"], ["chat"])
        self.assertEqual(fields["host"], ["127.0.0.1:%d" % self.relay.port])
        # No [server] trusted_proxies: the client's own chain is replaced by the peer.
        self.assertEqual(fields["x-forwarded-for"], ["127.0.0.1"])
        self.assertIn("x-request-id", fields)

    def test_origin_refusal_passes_through_uncached_and_the_connection_stays_http(self):
        for path, body in (("/refuse/a", b"no websocket for you"), ("/refuse-chunked/b", b"no websocket for you (chunked)")):
            for attempt in range(2):
                with RawConn(self.relay.port) as c:
                    c.request("GET", path, headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                    ("Sec-WebSocket-Key", wsproto.new_key()),
                                                    ("Sec-WebSocket-Version", "13")])
                    r = c.read_response()
                    self.assertEqual(r.status, 403, path)
                    self.assertEqual(r.body, body)
                    self.assertEqual(r.header("X-Refused"), "1")
                    self.assertEqual(r.header("X-Cache"), "BYPASS", "attempt %d" % attempt)
                    self.assertIsNone(r.header("Upgrade"))
                    # No switch happened: the same connection carries the next request.
                    c.request("GET", "/plain/after-refusal")
                    again = c.read_response()
                    self.assertEqual(again.status, 200)
                    self.assertEqual(again.json()["target"], "/plain/after-refusal")

    def test_a_101_naming_another_protocol_is_a_502(self):
        client, status = self.connect("/other-proto/x")
        with client:
            self.assertEqual(status, 502)

    def test_upgrades_not_allowed_are_stripped_and_served_as_plain_requests(self):
        with RawConn(self.relay.port) as c:
            for i in range(2):
                c.request("GET", "/plain/h2c-%d" % i, headers=[("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                                                               ("HTTP2-Settings", "AAMAAABkAAQAAP__")])
                r = c.read_response()
                self.assertEqual(r.status, 200)
                names = {name.lower() for name, _ in r.json()["headers"]}
                for hop in ("upgrade", "connection", "http2-settings"):
                    self.assertNotIn(hop, names)

    def test_websocket_request_without_connection_upgrade_is_a_plain_request(self):
        with RawConn(self.relay.port) as c:
            c.request("GET", "/ws/no-connection", headers=[("Upgrade", "websocket")])
            r = c.read_response()
        self.assertEqual(r.status, 426, "the origin saw no upgrade request")

    def test_tunnel_metrics_count_open_tunnels_and_bytes(self):
        text = self.metrics_text()
        up0 = metric(text, "relay_tunnel_bytes_total", direction="client_to_origin") or 0
        down0 = metric(text, "relay_tunnel_bytes_total", direction="origin_to_client") or 0
        client, status = self.connect("/ws/metrics")
        with client:
            self.assertEqual(status, 101)
            payload = os.urandom(100000)
            client.send(wsproto.BINARY, payload)
            self.assertEqual(client.recv()[1], payload)
            text = self.metrics_text()
            self.assertEqual(metric(text, "relay_tunnels_active"), 1)
            self.assertGreaterEqual(metric(text, "relay_tunnel_bytes_total", direction="client_to_origin") - up0, 100000)
            self.assertGreaterEqual(metric(text, "relay_tunnel_bytes_total", direction="origin_to_client") - down0, 100000)
            client.close_handshake()
        wait_until(lambda: metric(self.metrics_text(), "relay_tunnels_active") == 0, 5, what="gauge back to 0")

    def test_origin_down_is_a_502(self):
        dead = self.make_relay({}, name="dead", upstream="http://127.0.0.1:1").start()
        try:
            with wsproto.Client(dead.port) as client:
                self.assertEqual(client.handshake("/ws/x"), 502)
        finally:
            dead.stop()


class NoUpgradesTest(WsCase):
    WS_CONFIG = {"server": {"upgrades": []}}

    def test_with_no_upgrades_allowed_websocket_is_stripped(self):
        client, status = self.connect("/ws/echo")
        with client:
            self.assertEqual(status, 426, "the origin saw a plain GET")


class IdleTunnelTest(WsCase):
    WS_CONFIG = {"server": {"tunnel_idle_timeout": "1s"}}

    def test_busy_tunnel_lives_and_idle_tunnel_is_closed(self):
        client, status = self.connect("/ws/idle")
        with client:
            self.assertEqual(status, 101)
            # Traffic every 0.3 s for 2 s: twice the idle timeout, never idle.
            for i in range(7):
                if i:
                    time.sleep(0.3)
                client.send(wsproto.TEXT, b"tick %d" % i)
                self.assertEqual(client.recv()[1], b"tick %d" % i)
            went_idle = time.monotonic()
            client.sock.settimeout(6)
            self.assertEqual(client.sock.recv(1), b"", "relay closes an idle tunnel")
            waited = time.monotonic() - went_idle
            self.assertGreater(waited, 0.8)
            self.assertLess(waited, 4.0)
        wait_until(lambda: self.ws.get_json("/__conns")["open"] == 0, 5, what="origin side closed too")


class TunnelShutdownTest(WsCase):
    WS_CONFIG = {"server": {"shutdown_grace": "3s"}}

    def test_drain_keeps_a_tunnel_working_then_closes_it_before_the_grace_ends(self):
        client, status = self.connect("/ws/drain")
        with client:
            self.assertEqual(status, 101)
            sent = time.monotonic()
            self.relay.signal(signal.SIGTERM)
            wait_until(lambda: not port_open(self.relay.port), 2, what="listener closed")
            client.send(wsproto.TEXT, b"still here")
            self.assertEqual(client.recv()[1], b"still here", "the tunnel works during the drain")
            client.sock.settimeout(6)
            self.assertEqual(client.sock.recv(1), b"", "the drain closes the tunnel")
            closed_after = time.monotonic() - sent
            self.assertGreater(closed_after, 1.5, "not at once: the tunnel had most of the grace")
            self.assertLess(closed_after, 3.0, "before the grace ends")
        code = self.relay.wait(5)
        self.assertEqual(code, 0, "a closed tunnel is no work cut by the grace")
        wait_until(lambda: self.ws.get_json("/__conns")["open"] == 0, 5, what="origin side closed")


class TlsOriginTest(WsCase):
    """An https:// origin with a certificate of its own CA: relay verifies it
    against the CA store OpenSSL is pointed at (SSL_CERT_FILE here, the
    system's otherwise) and the host name (an IP SAN here)."""

    @classmethod
    def origin_tls(cls):
        cert, key = cls.workdir / "origin-cert.pem", cls.workdir / "origin-key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        cls.WS_ENV = {"SSL_CERT_FILE": str(cert)}
        return cert, key

    def test_tunnel_to_an_https_origin_whose_ca_is_trusted(self):
        client, status = self.connect("/ws/tls")
        with client:
            self.assertEqual(status, 101)
            payload = os.urandom(200000)
            client.send(wsproto.BINARY, payload, fragments=3)
            self.assertEqual(client.recv(), (wsproto.BINARY, payload, False))
            self.assertEqual(client.close_handshake()[0], wsproto.CLOSE)

    def test_an_untrusted_certificate_is_a_502_naming_the_reason(self):
        before = self.ws.get_json("/__conns")["upgraded"]
        untrusting = self.make_relay({}, name="untrusting", upstream=self.ws.url).start()
        try:
            with wsproto.Client(untrusting.port) as client:
                self.assertEqual(client.handshake("/ws/tls"), 502)
            wait_until(lambda: "certificate verify failed" in untrusting.stderr_path.read_text(), 5,
                       what="the TLS reason in relay's log")
            self.assertEqual(self.ws.get_json("/__conns")["upgraded"], before, "no handshake reached the origin")
        finally:
            untrusting.stop()
