"""[upstream.tls]: relay in front of HTTPS origins (origin.py --tls-*) with a
private PKI made at test time (tls_pki.py): trust by CA file or hashed
directory, verify off, an SNI name other than the URL's host, client
certificates (mTLS) and a minimum TLS version. Every refusal must be a 502
whose log line names curl's reason and which counts as
relay_upstream_errors_total{reason="tls"}; the origin must not have served
the request."""
import shutil
import tempfile
import unittest
from pathlib import Path

from harness import (Origin, OriginTls, RelayTestCase, expected_body, metric, request_header, run_relay_cli,
                     target_for, wait_until)
from tls_pki import Pki

PKI = {}


def setUpModule():
    PKI["dir"] = Path(tempfile.mkdtemp(prefix="relay-it-pki-"))
    PKI["pki"] = Pki(PKI["dir"])


def tearDownModule():
    shutil.rmtree(PKI["dir"], ignore_errors=True)


class TlsOriginCase(RelayTestCase):
    """One HTTPS origin per class (ORIGIN: which certificate, client CA, TLS
    ceiling); every test starts its own relay with the [upstream.tls] under test."""

    START_RELAY = False
    CERT = "server"          # "server": origin.test + 127.0.0.1; "named": origin.test only
    REQUIRE_CLIENT = False   # the origin wants a client certificate from our CA
    MAX_VERSION = None       # "1.2": the origin refuses TLS 1.3

    @classmethod
    def setUpClass(cls):
        cls.workdir = Path(tempfile.mkdtemp(prefix="relay-it-"))
        cls.relay = None
        pki = cls.pki = PKI["pki"]
        cert = getattr(pki, cls.CERT)
        cls.origin = Origin(cls.workdir, tls=OriginTls(
            cert, getattr(pki, cls.CERT + "_key"), ca=pki.ca,
            client_ca=pki.ca if cls.REQUIRE_CLIENT else None, max_version=cls.MAX_VERSION,
            client_cert=pki.client if cls.REQUIRE_CLIENT else None,
            client_key=pki.client_key if cls.REQUIRE_CLIENT else None))
        try:
            cls.origin.start()
        except BaseException:
            cls.tearDownClass()
            raise

    def start_relay(self, tls=None, upstream=None, env=None):
        """A relay for this test only (stopped at its end) with upstream.tls = tls."""
        config = {"upstream": dict(upstream or {}, tls=tls or {})}
        self.relays = getattr(self, "relays", 0) + 1
        name = "%s-%d" % (self.id().rsplit(".", 1)[1], self.relays)
        relay = self.make_relay(config, env=env, name=name).start()
        self.addCleanup(relay.stop)
        self.relay = relay  # for self.get() and the failure diagnostics
        return relay

    def relay_log(self):
        return self.relay.stderr_path.read_text(errors="replace")

    @staticmethod
    def metrics_of(relay):
        # relay.admin() waits out the moment between the client listener and
        # the admin one opening (slow sanitizer builds).
        r = relay.admin("GET", "/metrics")
        assert r.status == 200, r.status
        return r.body.decode()

    def tls_errors(self):
        return metric(self.metrics_of(self.relay), "relay_upstream_errors_total", reason="tls") or 0

    def assertServed(self, path, headers=None):
        target = target_for(path, cc="max-age=60")
        r = self.get(target, headers=headers)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.body, expected_body(path, 100))
        return r

    def assertRefused(self, path, *reasons):
        """A 502 for path, the origin never served it, a warning naming one of
        `reasons` (curl's words), and one more tls error in the metrics."""
        before = self.tls_errors()
        r = self.get(target_for(path, cc="max-age=60"))
        self.assertEqual(r.status, 502, r.body[:300])
        self.assertEqual(self.origin.count(path), 0, "the origin must not have answered %s" % path)
        line = wait_until(lambda: next((l for l in self.relay_log().splitlines()
                                        if "origin TLS failure for GET " + path in l), None),
                          5.0, what="the TLS failure's log line")
        self.assertIn("warn", line.lower())
        self.assertTrue(any(reason in line for reason in reasons), "no reason %r in %r" % (reasons, line))
        self.assertEqual(self.tls_errors(), before + 1)
        self.assertFalse(metric(self.metrics_of(self.relay), "relay_upstream_errors_total", reason="other"))
        return line


class TrustTest(TlsOriginCase):
    """The origin's certificate is issued by a private CA for 127.0.0.1."""

    def test_ca_file_verifies_and_the_response_is_cached(self):
        self.start_relay({"ca_file": str(self.pki.ca)})
        first = self.assertServed("/tls/ca-file")
        self.assertEqual(first.header("X-Cache"), "MISS")
        second = self.assertServed("/tls/ca-file")
        self.assertEqual(second.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/tls/ca-file"), 1)
        seen = self.origin.requests("/tls/ca-file")[0]
        self.assertTrue(seen["tls"]["version"].startswith("TLSv1."), seen["tls"])
        self.assertEqual(self.tls_errors(), 0)

    def test_system_cas_do_not_know_the_private_ca(self):
        self.start_relay()
        self.assertRefused("/tls/no-ca", "unable to get local issuer certificate", "self-signed certificate")

    def test_ca_file_of_another_ca_replaces_trust(self):
        self.start_relay({"ca_file": str(self.pki.other_ca)})
        self.assertRefused("/tls/other-ca", "unable to get local issuer certificate")

    def test_ca_path_hashed_directory(self):
        self.start_relay({"ca_path": str(self.pki.ca_dir)})
        self.assertServed("/tls/ca-path")

    def test_ca_file_from_the_environment(self):
        self.start_relay(env={"RELAY_UPSTREAM_TLS_CA_FILE": str(self.pki.ca)})
        self.assertServed("/tls/ca-env")

    def test_verify_off_accepts_the_unknown_ca_and_warns_at_start(self):
        self.start_relay({"verify": False})
        self.assertServed("/tls/verify-off")
        self.assertIn("upstream.tls: verify = false", self.relay_log())

    def test_a_tls_failure_is_not_a_connect_failure(self):
        self.start_relay()
        self.assertRefused("/tls/not-connect", "unable to get local issuer certificate")
        metrics = self.metrics_of(self.relay)
        self.assertFalse(metric(metrics, "relay_upstream_errors_total", reason="connect"))
        # The label exists before the first failure too (pre-registered).
        other = self.start_relay({"ca_file": str(self.pki.ca)})
        self.assertEqual(metric(self.metrics_of(other), "relay_upstream_errors_total", reason="tls"), 0)


class SniTest(TlsOriginCase):
    """The origin's certificate names origin.test only; relay reaches it at 127.0.0.1."""

    CERT = "named"

    def test_the_url_host_does_not_match_the_certificate(self):
        self.start_relay({"ca_file": str(self.pki.ca)})
        self.assertRefused("/sni/by-address", "no alternative certificate subject name matches target host name "
                                              "'127.0.0.1'")

    def test_sni_names_the_certificate_and_the_host_header_is_the_clients(self):
        self.start_relay({"ca_file": str(self.pki.ca), "sni": "origin.test"})
        self.assertServed("/sni/ok", headers={"Host": "www.example.com"})
        seen = self.origin.requests("/sni/ok")[0]
        self.assertEqual(seen["tls"]["sni"], "origin.test")
        self.assertEqual(request_header(seen, "Host"), "www.example.com")
        self.assertEqual(seen["target"], target_for("/sni/ok", cc="max-age=60"))

    def test_sni_without_preserve_host_sends_the_url_authority(self):
        self.start_relay({"ca_file": str(self.pki.ca), "sni": "origin.test"}, upstream={"preserve_host": False})
        self.assertServed("/sni/url-host", headers={"Host": "www.example.com"})
        seen = self.origin.requests("/sni/url-host")[0]
        self.assertEqual(seen["tls"]["sni"], "origin.test")
        self.assertEqual(request_header(seen, "Host"), "127.0.0.1:%d" % self.origin.port)

    def test_wrong_sni_is_refused(self):
        self.start_relay({"ca_file": str(self.pki.ca), "sni": "other.test"})
        self.assertRefused("/sni/wrong", "'other.test'")


class MutualTlsTest(TlsOriginCase):
    """The origin requires a client certificate issued by the private CA."""

    REQUIRE_CLIENT = True

    def test_without_a_client_certificate(self):
        self.start_relay({"ca_file": str(self.pki.ca)})
        self.assertRefused("/mtls/none", "certificate required", "alert",
                           "closed the connection after the TLS handshake")

    def test_a_client_certificate_from_another_ca(self):
        self.start_relay({"ca_file": str(self.pki.ca), "client_cert": str(self.pki.stranger),
                          "client_key": str(self.pki.stranger_key)})
        # TLS 1.3: the origin refuses after relay's handshake is done; curl
        # reports the alert, or the connection closed before the request.
        self.assertRefused("/mtls/stranger", "alert", "closed the connection after the TLS handshake")

    def test_with_the_client_certificate_and_key(self):
        self.start_relay({"ca_file": str(self.pki.ca), "client_cert": str(self.pki.client),
                          "client_key": str(self.pki.client_key)})
        self.assertServed("/mtls/pair")
        self.assertEqual(self.origin.requests("/mtls/pair")[0]["tls"]["client_cert"], "relay-client")

    def test_with_certificate_and_key_in_one_file(self):
        self.start_relay({"ca_file": str(self.pki.ca), "client_cert": str(self.pki.client_combined)})
        self.assertServed("/mtls/combined")
        self.assertEqual(self.origin.requests("/mtls/combined")[0]["tls"]["client_cert"], "relay-client")


class MinVersionTest(TlsOriginCase):
    """The origin offers TLS 1.2 at most."""

    MAX_VERSION = "1.2"

    def test_default_minimum_accepts_tls12(self):
        self.start_relay({"ca_file": str(self.pki.ca)})
        self.assertServed("/ver/12")
        self.assertEqual(self.origin.requests("/ver/12")[0]["tls"]["version"], "TLSv1.2")

    def test_min_version_13_refuses_a_tls12_origin(self):
        self.start_relay({"ca_file": str(self.pki.ca), "min_version": "1.3"})
        self.assertRefused("/ver/13", "protocol version", "unsupported protocol")


class TlsConfigTest(unittest.TestCase):
    """Bad [upstream.tls] files stop --check-config (and a start) naming key and line."""

    def test_check_config_names_the_missing_file(self):
        with tempfile.TemporaryDirectory(prefix="relay-it-") as d:
            path = Path(d) / "relay.toml"
            path.write_text('[upstream]\nurl = "https://127.0.0.1:1"\n\n[upstream.tls]\n'
                            'ca_file = "%s/missing.pem"\n' % d)
            done = run_relay_cli(["--check-config", str(path)])
            self.assertEqual(done.returncode, 1, done.stderr)
            self.assertIn("%s:5: upstream.tls.ca_file: cannot read" % path, done.stderr)

    def test_key_without_certificate(self):
        with tempfile.TemporaryDirectory(prefix="relay-it-") as d:
            path = Path(d) / "relay.toml"
            path.write_text('[upstream.tls]\nclient_key = "%s"\n' % PKI["pki"].client_key)
            done = run_relay_cli(["--check-config", str(path)])
            self.assertEqual(done.returncode, 1, done.stderr)
            self.assertIn("%s:2: upstream.tls.client_key: needs client_cert" % path, done.stderr)


if __name__ == "__main__":
    unittest.main()
