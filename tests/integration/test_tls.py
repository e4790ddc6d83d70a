"""[server.tls]: relay terminating TLS for its clients, with a private PKI
made at test time (tls_pki.py). Two certificates (site.test, the default,
and other.test / *.wild.test) chosen by SNI; HTTPS with curl over HTTP/1.1
and HTTP/2 (ALPN); X-Forwarded-Proto: https to the origin; TLS 1.2 and 1.3
only; session resumption by ticket; a handshake that never comes is cut at
server.tls.handshake_timeout; relay_tls_handshakes_total counts them all;
certificates swapped by SIGHUP while an open connection keeps working; and
--check-config refusing an expired certificate, a missing file and a key
that is not the certificate's, naming the key."""
import hashlib
import json
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

from harness import (HOST, RelayTestCase, expected_body, expected_sha, free_port, metric, request_header, run_relay_cli,
                     target_for, wait_until)
from tls_pki import Pki, openssl

PKI = {}


class FrontPki(Pki):
    """The test PKI plus the certificates relay itself serves."""

    def __init__(self, directory):
        super().__init__(directory)
        self.site, self.site_key = self.leaf("site", "site.test", "serverAuth", "DNS:site.test,IP:127.0.0.1")
        self.other, self.other_key = self.leaf("other", "other.test", "serverAuth", "DNS:other.test,DNS:*.wild.test")
        self.renewed, self.renewed_key = self.leaf("renewed", "renewed.site.test", "serverAuth",
                                                   "DNS:site.test,IP:127.0.0.1")
        self.expired, self.expired_key = self.backdated("expired", "expired.test")

    def backdated(self, name, cn):
        """A certificate of the test CA that expired in 2020 (`openssl ca` sets any dates)."""
        cert, key, csr = (self.dir / (name + ext) for ext in (".pem", ".key", ".csr"))
        openssl("req", "-new", *self.KEY, "-keyout", key, "-out", csr, "-subj", "/CN=" + cn, cwd=self.dir)
        (self.dir / "index.txt").write_text("")
        (self.dir / "serial").write_text("1000\n")
        conf = self.dir / "ca.cnf"
        conf.write_text("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
                        "default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n")
        openssl("ca", "-batch", "-config", conf, "-cert", self.ca, "-keyfile", self.ca_key, "-in", csr, "-out", cert,
                "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext", cwd=self.dir)
        return cert, key


def setUpModule():
    PKI["dir"] = Path(tempfile.mkdtemp(prefix="relay-it-front-pki-"))
    PKI["pki"] = FrontPki(PKI["dir"])


def tearDownModule():
    shutil.rmtree(PKI["dir"], ignore_errors=True)


def tls_toml(port, certificates, extra=""):
    entries = ", ".join('{ cert = "%s", key = "%s" }' % (c, k) for c, k in certificates)
    return '[server.tls]\nlisten = "%s:%d"\ncertificates = [ %s ]\n%s' % (HOST, port, entries, extra)


def peer_subject(port, server_name, ca, version=None):
    """The CN of the certificate relay presents for `server_name` (None: no SNI)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection((HOST, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            cert = s.getpeercert()
            return dict(x[0] for x in cert["subject"])["commonName"], s.version()


def curl(*args, timeout=20):
    done = subprocess.run(["curl", "-sS", "--max-time", "10", *map(str, args)], capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return done


class TlsCase(RelayTestCase):
    START_RELAY = False
    EXTRA = ""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = PKI["pki"]
        cls.tls_port = free_port()
        cls.relay = cls.make_relay({"server": {"threads": 2}})
        cls.relay.extra_toml = tls_toml(cls.tls_port, [(cls.pki.site, cls.pki.site_key),
                                                       (cls.pki.other, cls.pki.other_key)], cls.EXTRA)
        try:
            cls.relay.start()
            wait_until(lambda: cls.relay.alive() and socket.create_connection((HOST, cls.tls_port), 1).close() is None,
                       10, what="the TLS listener")
        except BaseException:
            cls.tearDownClass()
            raise

    def https(self, path, *args, name="site.test"):
        """curl over TLS to relay as https://name:port/path; returns (status, headers text, body)."""
        head = self.workdir / "head.txt"
        done = curl("--cacert", self.pki.ca, "--resolve", "%s:%d:%s" % (name, self.tls_port, HOST),
                    "-D", head, "-o", "-", *args, "https://%s:%d%s" % (name, self.tls_port, path))
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors="replace"))
        headers = head.read_text(errors="replace")
        status = int(headers.split("\r\n", 1)[0].split()[1])
        return status, headers, done.stdout

    def handshakes(self, result, version):
        return metric(self.relay.metrics(), "relay_tls_handshakes_total", result=result, version=version) or 0


class HttpsTest(TlsCase):
    def test_https_over_http11_is_cached_and_tells_the_origin_https(self):
        path = "/tls/front/h1"
        target = target_for(path, cc="max-age=60")
        status, headers, body = self.https(target, "--http1.1")
        self.assertEqual(status, 200)
        self.assertEqual(body, expected_body(path, 100))
        self.assertIn("x-cache: miss", headers.lower())
        status, headers, body = self.https(target, "--http1.1")
        self.assertIn("x-cache: hit", headers.lower())
        self.assertEqual(body, expected_body(path, 100))
        self.assertEqual(self.origin.count(path), 1)
        seen = self.origin.requests(path)[0]
        self.assertEqual(request_header(seen, "x-forwarded-proto"), "https")

    def test_http2_by_alpn(self):
        path = "/tls/front/h2"
        target = target_for(path, cc="max-age=60")
        status, headers, body = self.https(target, "--http2")
        self.assertEqual(status, 200)
        self.assertTrue(headers.startswith("HTTP/2 200"), headers[:40])
        self.assertEqual(body, expected_body(path, 100))
        status, headers, body = self.https(target, "--http2")
        self.assertIn("x-cache: hit", headers.lower())
        self.assertEqual(self.origin.count(path), 1)
        seen = self.origin.requests(path)[0]
        self.assertEqual(request_header(seen, "x-forwarded-proto"), "https")
        self.assertIn("2 relay", request_header(seen, "via"))
        self.assertTrue(metric(self.relay.metrics(), "relay_requests_total", protocol="HTTP/2", cache="hit"))

    def test_plain_listener_still_serves_http(self):
        path = "/tls/front/plain"
        r = self.get(target_for(path, cc="max-age=60"))
        self.assertEqual(r.status, 200)
        seen = self.origin.requests(path)[0]
        self.assertEqual(request_header(seen, "x-forwarded-proto"), "http")

    def test_sni_chooses_the_certificate(self):
        self.assertEqual(peer_subject(self.tls_port, "site.test", self.pki.ca)[0], "site.test")
        self.assertEqual(peer_subject(self.tls_port, "other.test", self.pki.ca)[0], "other.test")
        self.assertEqual(peer_subject(self.tls_port, "a.wild.test", self.pki.ca)[0], "other.test")
        # One label only for a wildcard; unknown names and no SNI get the default.
        self.assertEqual(peer_subject(self.tls_port, "b.a.wild.test", self.pki.ca)[0], "site.test")
        self.assertEqual(peer_subject(self.tls_port, "unknown.test", self.pki.ca)[0], "site.test")
        self.assertEqual(peer_subject(self.tls_port, None, self.pki.ca)[0], "site.test")
        status, _, _ = self.https("/tls/front/sni-other", "--http1.1", name="other.test")
        self.assertEqual(status, 200)

    def test_tls12_and_13_only(self):
        self.assertEqual(peer_subject(self.tls_port, "site.test", self.pki.ca, ssl.TLSVersion.TLSv1_3)[1], "TLSv1.3")
        self.assertEqual(peer_subject(self.tls_port, "site.test", self.pki.ca, ssl.TLSVersion.TLSv1_2)[1], "TLSv1.2")
        before = self.handshakes("failed", "unknown")
        done = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (HOST, self.tls_port), "-tls1_1"],
                              capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        self.assertNotEqual(done.returncode, 0)
        wait_until(lambda: self.handshakes("failed", "unknown") > before, 5, what="the failed handshake counted")
        self.assertGreater(self.handshakes("ok", "TLSv1.3"), 0)
        self.assertGreater(self.handshakes("ok", "TLSv1.2"), 0)

    def test_session_resumption_by_ticket(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = ssl.create_default_context(cafile=str(self.pki.ca))
            ctx.minimum_version = ctx.maximum_version = version
            request = b"GET /tls/front/resume HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"
            with socket.create_connection((HOST, self.tls_port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="site.test") as s:
                    s.sendall(request)
                    while s.recv(65536):
                        pass
                    session = s.session
            with socket.create_connection((HOST, self.tls_port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="site.test", session=session) as s:
                    self.assertTrue(s.session_reused, version)



class Http2OverTlsTest(TlsCase):
    """Many streams on one TLS connection through the whole request path."""

    def curl_h2(self, *args):
        done = curl("--http2", "--cacert", self.pki.ca, "--resolve", "site.test:%d:%s" % (self.tls_port, HOST),
                    *args, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors="replace"))
        return done

    def url(self, target):
        return "https://site.test:%d%s" % (self.tls_port, target)

    def test_concurrent_streams_hits_misses_and_coalesced_are_byte_exact(self):
        size = 200_000
        cached = ["/tls/h2/cached-%d" % i for i in range(5)]
        for path in cached:
            self.curl_h2("-o", "/dev/null", self.url(target_for(path, cc="max-age=60", size=size)))
        slow = "/tls/h2/coalesced"
        jobs = [(slow, target_for(slow, cc="max-age=60", size=size, delay=0.5)) for _ in range(20)]
        jobs += [(p, target_for(p, cc="max-age=60", size=size)) for p in cached for _ in range(2)]
        jobs += [("/tls/h2/miss-%d" % i, target_for("/tls/h2/miss-%d" % i, cc="max-age=60", size=size))
                 for i in range(10)]
        out = self.workdir / "streams"
        out.mkdir(exist_ok=True)
        args = ["-Z", "--parallel-max", "50", "-w", "%{http_code} %{http_version}\\n"]
        for i, (_, target) in enumerate(jobs):
            args += ["-o", str(out / ("%d.body" % i)), self.url(target)]
        before = self.handshakes("ok", "TLSv1.3")
        done = self.curl_h2(*args)
        results = done.stdout.decode().split()
        self.assertEqual(results.count("200"), len(jobs), results)
        self.assertEqual(results.count("2"), len(jobs), results)
        for i, (path, _) in enumerate(jobs):
            self.assertEqual((out / ("%d.body" % i)).read_bytes(), expected_body(path, size), path)
        self.assertEqual(self.origin.count(slow), 1, "20 streams for one cold URL: one origin request")
        for path in cached:
            self.assertEqual(self.origin.count(path), 1)
        # curl multiplexes them over one connection (a second at most, opened before it knew).
        self.assertLessEqual(self.handshakes("ok", "TLSv1.3") - before, 2)

    def test_h2load_many_streams_on_few_connections(self):
        target = target_for("/tls/h2/load", cc="max-age=60", size=1024)
        done = subprocess.run(["h2load", "-n", "2000", "-c", "2", "-m", "50", "https://%s:%d%s" %
                               (HOST, self.tls_port, target)], capture_output=True, text=True, timeout=60)
        self.assertIn("2000 succeeded, 0 failed, 0 errored", done.stdout, done.stdout[-1500:])
        self.assertIn("status codes: 2000 2xx", done.stdout)
        self.assertIn("h2", done.stdout)  # "Application protocol: h2"
        self.assertEqual(self.origin.count("/tls/h2/load"), 1)

    def test_post_body_over_h2(self):
        body = self.workdir / "upload.bin"
        data = bytes(range(256)) * 12_000  # 3 MB
        body.write_bytes(data)
        done = self.curl_h2("-X", "POST", "--data-binary", "@%s" % body, self.url("/echo"))
        echoed = json.loads(done.stdout)
        self.assertEqual(echoed["body_length"], len(data))
        self.assertEqual(echoed["body_sha256"], hashlib.sha256(data).hexdigest())

    def test_64_mib_streamed_to_a_slow_reader_with_bounded_memory(self):
        path, size = "/tls/h2/big", 64 * 1024 * 1024
        before = self.relay.rss()["VmRSS"]
        peak = [before]
        stop = []

        def sample():
            while not stop:
                peak[0] = max(peak[0], self.relay.rss()["VmRSS"])
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            out = self.workdir / "big.body"
            self.curl_h2("--limit-rate", "40M", "-o", str(out), self.url(target_for(path, cc="no-store", size=size)))
        finally:
            stop.append(True)
            sampler.join()
        self.assertEqual(out.stat().st_size, size)
        self.assertEqual(hashlib.sha256(out.read_bytes()).hexdigest(), expected_sha(path, size))
        grown = (peak[0] - before) / 2**20
        self.assertLess(grown, 32, "relay's RSS grew by %.1f MiB while streaming 64 MiB to a slow reader" % grown)


class HandshakeTimeoutTest(TlsCase):
    EXTRA = 'handshake_timeout = "1s"\n'

    def test_a_silent_client_is_cut_at_the_handshake_timeout_and_counted(self):
        before = self.handshakes("timeout", "unknown")
        with socket.create_connection((HOST, self.tls_port), timeout=10) as s:
            started = time.monotonic()
            self.assertEqual(s.recv(1), b"")  # relay closes it
            self.assertLess(time.monotonic() - started, 3)
        wait_until(lambda: self.handshakes("timeout", "unknown") > before, 5, what="the timeout counted")
        # A client that sends plain HTTP instead of a ClientHello fails at once.
        before = self.handshakes("failed", "unknown")
        with socket.create_connection((HOST, self.tls_port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(100)
        wait_until(lambda: self.handshakes("failed", "unknown") > before, 5, what="the failure counted")


class CertificateReloadTest(TlsCase):
    """SIGHUP reads the certificates again: new connections get the new one,
    a connection opened before keeps being served."""

    def test_sighup_swaps_the_certificate_without_dropping_connections(self):
        live = self.workdir / "live"
        live.mkdir(exist_ok=True)
        cert, key = live / "site.pem", live / "site.key"
        shutil.copy(self.pki.site, cert)
        shutil.copy(self.pki.site_key, key)
        self.relay.stop()
        self.relay.extra_toml = tls_toml(self.tls_port, [(cert, key)])
        self.relay.start()
        wait_until(lambda: socket.create_connection((HOST, self.tls_port), 1).close() is None, 10,
                   what="the TLS listener")
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        kept = ctx.wrap_socket(socket.create_connection((HOST, self.tls_port), timeout=5), server_hostname="site.test")
        self.addCleanup(kept.close)
        path = "/tls/front/reload"

        def ask():
            kept.sendall(("GET %s HTTP/1.1\r\nHost: site.test\r\n\r\n" % path).encode())
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 100:
                chunk = kept.recv(65536)
                self.assertTrue(chunk, "the kept connection was closed")
                data += chunk
            return data

        self.assertTrue(ask().startswith(b"HTTP/1.1 200"))
        self.assertEqual(peer_subject(self.tls_port, "site.test", self.pki.ca)[0], "site.test")
        shutil.copy(self.pki.renewed, cert)
        shutil.copy(self.pki.renewed_key, key)
        self.relay.signal(signal.SIGHUP)
        wait_until(lambda: peer_subject(self.tls_port, "site.test", self.pki.ca)[0] == "renewed.site.test", 10,
                   what="the renewed certificate on new connections")
        self.assertTrue(ask().startswith(b"HTTP/1.1 200"))


class CheckConfigTest(unittest.TestCase):
    def check(self, certificates):
        workdir = Path(tempfile.mkdtemp(prefix="relay-it-tls-check-"))
        self.addCleanup(shutil.rmtree, workdir, True)
        path = workdir / "relay.toml"
        path.write_text('[server]\nlisten = "%s:%d"\n[upstream]\nurl = "http://127.0.0.1:9"\n[admin]\nlisten = ""\n'
                        % (HOST, free_port()) + tls_toml(free_port(), certificates))
        return run_relay_cli(["--config", str(path), "--check-config"])

    def test_valid_certificates_pass(self):
        pki = PKI["pki"]
        done = self.check([(pki.site, pki.site_key), (pki.other, pki.other_key)])
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_expired_certificate_is_refused_naming_the_key(self):
        pki = PKI["pki"]
        done = self.check([(pki.site, pki.site_key), (pki.expired, pki.expired_key)])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("server.tls.certificates[2].cert", done.stderr)  # counted from 1, as every list
        self.assertIn("expired", done.stderr)

    def test_missing_file_is_refused_naming_the_key(self):
        pki = PKI["pki"]
        done = self.check([(pki.site, PKI["dir"] / "nowhere.key")])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("server.tls.certificates[1].key", done.stderr)

    def test_key_of_another_certificate_is_refused(self):
        pki = PKI["pki"]
        done = self.check([(pki.site, pki.other_key)])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("server.tls.certificates[1].key", done.stderr)


if __name__ == "__main__":
    unittest.main()
