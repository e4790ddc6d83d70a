"""Start-up: one relay per listen address whatever the thread count, the
Kubernetes service-link variables (RELAY_PORT, RELAY_SERVICE_HOST, ...), and
--check-config refusing what a start would refuse."""
import unittest

from harness import HOST, RelayTestCase, child_env, free_port, get, relay_bin, run_relay_cli, to_toml

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


# Line numbers matter: the tests expect the key's line in the message.
CHECK_CONFIG = """\
[server]
listen = "{listen}"

[cache.coalesce]
spool_dir = "{spool_dir}"

[log]
access_log = "{access_log}"
"""
LISTEN_LINE, SPOOL_LINE, ACCESS_LOG_LINE = 2, 5, 8


class CheckConfigStartupTest(RelayTestCase):
    """--check-config fails on what the start would fail on, naming key and line."""
    START_RELAY = False

    def check(self, name, env=None, **values):
        fields = {"listen": "%s:%d" % (HOST, free_port()), "spool_dir": str(self.workdir),
                  "access_log": str(self.workdir / "logs-ok" / "access.log")}
        (self.workdir / "logs-ok").mkdir(exist_ok=True)
        fields.update(values)
        path = self.workdir / (name + ".toml")
        path.write_text(CHECK_CONFIG.format(**fields))
        return run_relay_cli(["--check-config", str(path)], env=env), path

    def assertRefused(self, p, path, key, line):
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("%s:%d: %s:" % (path, line, key), p.stderr)

    def test_valid_when_everything_is_usable(self):
        p, _ = self.check("ok")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("is valid", p.stdout)
        self.assertFalse((self.workdir / "logs-ok" / "access.log").exists(), "the check creates no log file")

    def test_access_log_in_a_missing_directory(self):
        p, path = self.check("log-missing-dir", access_log=str(self.workdir / "no-such-dir" / "access.log"))
        self.assertRefused(p, path, "log.access_log", ACCESS_LOG_LINE)
        self.assertIn("no-such-dir", p.stderr)

    def test_access_log_that_is_a_directory(self):
        p, path = self.check("log-is-dir", access_log=str(self.workdir))
        self.assertRefused(p, path, "log.access_log", ACCESS_LOG_LINE)
        self.assertIn("directory", p.stderr)

    def test_existing_access_log_is_appendable_and_left_alone(self):
        log = self.workdir / "logs-ok" / "existing.log"
        log.write_text("earlier line\n")
        p, _ = self.check("log-existing", access_log=str(log))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(log.read_text(), "earlier line\n", "not truncated, nothing written")

    def test_missing_spool_dir(self):
        p, path = self.check("spool-missing", spool_dir=str(self.workdir / "no-spool"))
        self.assertRefused(p, path, "cache.coalesce.spool_dir", SPOOL_LINE)
        self.assertIn("no-spool", p.stderr)

    def test_spool_dir_that_is_a_file(self):
        f = self.workdir / "spool-file"
        f.write_text("x")
        p, path = self.check("spool-file", spool_dir=str(f))
        self.assertRefused(p, path, "cache.coalesce.spool_dir", SPOOL_LINE)

    def test_listen_address_that_is_not_local(self):
        p, path = self.check("listen-remote", listen="192.0.2.1:8080")  # TEST-NET-1: never local
        self.assertRefused(p, path, "server.listen", LISTEN_LINE)
        self.assertIn("192.0.2.1:8080", p.stderr)

    def test_listen_address_from_the_environment(self):
        p, _ = self.check("listen-env", env={"RELAY_SERVER_LISTEN": "192.0.2.1:8080"})
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("environment RELAY_SERVER_LISTEN: server.listen:", p.stderr)

    def test_listen_address_in_use_is_only_a_note(self):
        # As while the relay whose configuration is checked is running.
        relay = type(self).relay = self.make_relay(name="running").start()
        try:
            p, _ = self.check("listen-busy", listen="%s:%d" % (HOST, relay.port))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("in use", p.stderr)
        finally:
            relay.stop()

    def test_start_refuses_the_same_access_log(self):
        # What the check refuses, the start refuses too.
        relay = self.make_relay({"log": {"access_log": str(self.workdir / "no-such-dir" / "a.log")}},
                                name="bad-log")
        with self.assertRaises(RuntimeError) as caught:
            relay.start(timeout=5)
        self.assertIn("log.access_log", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
