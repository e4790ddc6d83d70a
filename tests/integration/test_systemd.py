"""relay as a systemd service: the sd_notify protocol seen from a socket the
test binds as systemd would ($NOTIFY_SOCKET), the watchdog, `meson install`'s
layout and `systemd-analyze verify` of the installed unit."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from harness import RelayTestCase, port_open, relay_bin, wait_until


class NotifySocket:
    """A datagram socket in the place of systemd's: every message relay sends."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []  # (monotonic time, {field: value})

    def drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def with_field(self, name, value="1"):
        return [f for _, f in self.drain() if f.get(name) == value]

    def close(self):
        self.sock.close()


class NotifyTest(RelayTestCase):
    START_RELAY = False
    WATCHDOG_USEC = 400000  # pings every 200 ms

    def setUp(self):
        self.notify = NotifySocket(self.workdir / ("notify-%s.sock" % self._testMethodName))
        self.addCleanup(self.notify.close)
        self.relay = self.make_relay(env={"NOTIFY_SOCKET": self.notify.path,
                                          "WATCHDOG_USEC": str(self.WATCHDOG_USEC)},
                                     name=self._testMethodName)
        self.addCleanup(self.relay.stop)

    def test_ready_once_listening_with_a_status(self):
        self.relay.start()
        ready = wait_until(lambda: self.notify.with_field("READY"), 5, what="READY=1")
        self.assertIn("serving on 127.0.0.1:%d" % self.relay.port, ready[0].get("STATUS", ""))
        self.assertTrue(port_open(self.relay.port))
        self.assertEqual(self.get("/systemd/ready").status, 200)

    def test_reload_says_reloading_then_ready_even_when_the_file_is_bad(self):
        self.relay.start()
        wait_until(lambda: self.notify.with_field("READY"), 5, what="READY=1")
        for text in (None, "[server\n"):  # a good reload, then a file that does not parse
            if text is not None:
                self.relay.config_path.write_text(text)
            before = len(self.notify.drain())
            self.relay.signal(signal.SIGHUP)

            def reloaded():
                after = [f for _, f in self.notify.drain()[before:]]
                kinds = ["RELOADING" if f.get("RELOADING") == "1" else "READY" for f in after
                         if f.get("RELOADING") == "1" or f.get("READY") == "1"]
                return kinds if kinds[:2] == ["RELOADING", "READY"] else None
            wait_until(reloaded, 5, what="RELOADING=1 then READY=1")
            reloading = [f for _, f in self.notify.drain()[before:] if f.get("RELOADING") == "1"][0]
            self.assertRegex(reloading.get("MONOTONIC_USEC", ""), r"^\d+$")
        self.assertEqual(self.get("/systemd/after-reloads").status, 200)

    def test_watchdog_pings_while_the_loops_turn_and_stopping_on_drain(self):
        self.relay.config["server"]["threads"] = 2
        self.relay.start()
        wait_until(lambda: len(self.notify.with_field("WATCHDOG")) >= 5, 5, what="five watchdog pings")
        times = [t for t, f in self.notify.drain() if f.get("WATCHDOG") == "1"]
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertLess(max(gaps), 0.6, gaps)  # every WATCHDOG_USEC / 2, with slack
        # A stopped process sends nothing; once it runs again the pings resume.
        os.kill(self.relay.pid, signal.SIGSTOP)
        try:
            count = len(self.notify.with_field("WATCHDOG"))
            time.sleep(0.6)
            self.assertEqual(len(self.notify.with_field("WATCHDOG")), count)
        finally:
            os.kill(self.relay.pid, signal.SIGCONT)
        wait_until(lambda: len(self.notify.with_field("WATCHDOG")) > count, 5, what="pings after SIGCONT")
        self.relay.signal(signal.SIGTERM)
        self.assertEqual(self.relay.proc.wait(timeout=10), 0)
        stopping = [t for t, f in self.notify.drain() if f.get("STOPPING") == "1"]
        self.assertEqual(len(stopping), 1)
        # No ping once the drain has begun: finished loops are no wedge.
        late = [t for t, f in self.notify.drain() if f.get("WATCHDOG") == "1" and t > stopping[0] + 0.05]
        self.assertEqual(late, [])

    def test_without_notify_socket_relay_runs_as_before(self):
        self.relay.env = {}
        self.relay.start()
        self.assertEqual(self.get("/systemd/plain").status, 200)
        self.assertEqual(self.notify.drain(), [])
        self.assertNotIn("watchdog", self.relay.stderr_path.read_text())


def build_dir():
    """The meson build directory of the relay binary under test, if it is one."""
    d = Path(relay_bin()).resolve().parent
    return d if (d / "meson-private").is_dir() else None


def install(build, destdir):
    p = subprocess.run(["meson", "install", "-C", str(build), "--no-rebuild", "--quiet", "--destdir", str(destdir)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("meson install failed:\n" + p.stdout + p.stderr)


class InstallTest(unittest.TestCase):
    """meson install --destdir: the FHS layout, and the unit systemd accepts."""

    @classmethod
    def setUpClass(cls):
        cls.build = build_dir()
        if cls.build is None:
            raise unittest.SkipTest("the relay binary is not in a meson build directory: nothing to install")
        cls.dest = Path(tempfile.mkdtemp(prefix="relay-install-"))
        install(cls.build, cls.dest)
        introspected = subprocess.run(["meson", "introspect", "--buildoptions", str(cls.build)],
                                      capture_output=True, text=True, timeout=60).stdout
        options = {o["name"]: o["value"] for o in json.loads(introspected)}
        cls.prefix = options["prefix"]
        cls.sysconfdir = os.path.join(cls.prefix, options["sysconfdir"])  # absolute wins, as in meson

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def installed(self, path):
        return self.dest / path.lstrip("/")

    def test_binary_config_and_unit_in_their_places(self):
        binary = self.installed(self.prefix + "/bin/relay")
        self.assertTrue(os.access(binary, os.X_OK), binary)
        config = self.installed(self.sysconfdir + "/relay/relay.toml")
        self.assertEqual(config.read_text(), (Path(__file__).resolve().parents[2] / "relay.example.toml").read_text())
        unit = self.installed(self.prefix + "/lib/systemd/system/relay.service").read_text()
        self.assertIn("ExecStart=%s/bin/relay --config %s/relay/relay.toml" % (self.prefix, self.sysconfdir), unit)
        self.assertIn("Type=notify", unit)
        for page in ("man8/relay.8", "man5/relay.toml.5"):
            self.assertTrue(self.installed(self.prefix + "/share/man/" + page).is_file(), page)
        # The installed binary checks the installed configuration.
        p = subprocess.run([str(binary), "--check-config", str(config)], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_installing_again_keeps_the_operators_relay_toml(self):
        config = self.installed(self.sysconfdir + "/relay/relay.toml")
        edited = config.read_text().replace('url = "http://127.0.0.1:9000"', 'url = "http://10.0.0.7:8080"', 1)
        self.assertNotEqual(edited, config.read_text())
        config.write_text(edited)
        install(self.build, self.dest)
        self.assertEqual(config.read_text(), edited)
        default = self.installed(self.sysconfdir + "/relay/relay.toml.default")
        self.assertEqual(default.read_text(), (Path(__file__).resolve().parents[2] / "relay.example.toml").read_text())

    def test_systemd_analyze_verify_accepts_the_unit(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze is not installed (apt-get install systemd)")
        unit = self.installed(self.prefix + "/lib/systemd/system/relay.service")
        # verify checks that ExecStart's program exists: point it at the
        # installed copy (the only change), in a directory of its own.
        text = unit.read_text().replace(self.prefix + "/bin/relay", str(self.installed(self.prefix + "/bin/relay")))
        checked = self.dest / "verify" / "relay.service"
        checked.parent.mkdir(exist_ok=True)
        checked.write_text(text)
        p = subprocess.run([analyze, "verify", "--man=no", str(checked)], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
        problems = [line for line in (p.stdout + p.stderr).splitlines() if "relay.service" in line]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main()
