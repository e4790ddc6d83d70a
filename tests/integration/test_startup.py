"""Start-up: one relay per listen address whatever the thread count, and the
Kubernetes service-link variables (RELAY_PORT, RELAY_SERVICE_HOST, ...)."""
import unittest

from harness import HOST, RelayTestCase, child_env, get, relay_bin, run_relay_cli, to_toml

# What Kubernetes injects into every pod of the namespace for a Service named
# "relay" exposing port 8080 (service links).
K8S_SERVICE_ENV = {
    "RELAY_PORT": "tcp://10.0.0.1:8080",
    "RELAY_PORT_8080_TCP": "tcp://10.0.0.1:8080",
    "RELAY_PORT_8080_TCP_ADDR": "10.0.0.1",
    "RELAY_PORT_8080_TCP_PORT": "8080",
    "RELAY_PORT_8080_TCP_PROTO": "tcp",
    "RELAY_SERVICE_HOST": "10.0.0.1",
    "RELAY_SERVICE_PORT": "8080",
    "RELAY_SERVICE_PORT_HTTP": "8080",
}


class SecondInstanceTest(RelayTestCase):
    START_RELAY = False

    def check_second_refused(self, threads):
        first = self.make_relay({"server": {"threads": threads}}, name="first-%d" % threads).start()
        type(self).relay = first
        second = self.make_relay({"server": {"threads": threads}}, name="second-%d" % threads, port=first.port)
        try:
            second.config_path.write_text(to_toml(second.config))
            second.spawn([relay_bin(), "--config", str(second.config_path)], env=child_env())
            code = second.wait(5.0)
            self.assertIsNotNone(code, "a second relay with threads = %d started on the used port %d" %
                                 (threads, first.port))
            self.assertNotEqual(code, 0)
            err = second.stderr_path.read_text()
            self.assertIn("%s:%d" % (HOST, first.port), err, "the error names the address")
            self.assertIn("in use", err)
            # The first one is untouched and still takes every connection.
            for i in range(4):
                self.assertEqual(get(first.port, "/second/%d?size=10" % i).status, 200)
        finally:
            second.stop()
            first.stop()

    def test_second_instance_fails_with_one_thread(self):
        self.check_second_refused(1)

    def test_second_instance_fails_with_two_threads(self):
        self.check_second_refused(2)

    def test_second_instance_fails_with_one_thread_per_core(self):
        self.check_second_refused(0)


class KubernetesServiceEnvTest(RelayTestCase):
    START_RELAY = False

    def test_service_link_variables_are_ignored_with_one_warning(self):
        relay = type(self).relay = self.make_relay(env=dict(K8S_SERVICE_ENV, RELAY_SERVER_THREADS="2"))
        relay.start()
        self.assertEqual(get(relay.port, "/k8s/a?size=10").status, 200)
        self.assertEqual(relay.stop(), 0)
        warnings = [line for line in relay.stderr_path.read_text().splitlines() if "RELAY_PORT" in line]
        self.assertEqual(len(warnings), 1, relay.logs())
        for name in K8S_SERVICE_ENV:
            self.assertIn(name, warnings[0])
        self.assertIn("(2 threads)", relay.stderr_path.read_text(), "a real key still applies")

    def test_unknown_key_in_a_known_section_is_still_an_error(self):
        relay = type(self).relay = self.make_relay(env=dict(K8S_SERVICE_ENV, RELAY_SERVER_PORT="8080"))
        with self.assertRaises(RuntimeError) as caught:
            relay.start(timeout=5)
        self.assertIn("RELAY_SERVER_PORT: unknown variable", str(caught.exception))

    def test_check_config_warns_and_passes(self):
        path = self.workdir / "k8s.toml"
        path.write_text('[upstream]\nurl = "%s"\n' % self.origin.url)
        p = run_relay_cli(["--check-config", str(path)], env=K8S_SERVICE_ENV)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("RELAY_SERVICE_HOST", p.stderr)


if __name__ == "__main__":
    unittest.main()
