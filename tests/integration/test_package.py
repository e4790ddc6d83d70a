"""The Debian package as an operator gets it: `dpkg-buildpackage -us -uc -b`
on a copy of this tree builds relay_<version>_amd64.deb from the system
libraries, lintian finds no error in it, it installs its files where
Debian puts them, and the installed relay answers a request (through
systemd where systemd runs). Needs root, debhelper, dpkg-dev and lintian
(scripts/install-deps.sh installs them); the module is skipped otherwise,
and under RELAY_IT_SKIP_PACKAGE=1 (scripts/test.sh's sanitizer pass: the
package does not depend on the binary under test)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import HOST, Origin, Process, REPO_ROOT, free_port, get, wait_until

BUILD_TIMEOUT = 1200  # seconds: a clean optimised build on two cores takes a few minutes


def missing_prerequisite():
    if os.environ.get("RELAY_IT_SKIP_PACKAGE"):
        return "RELAY_IT_SKIP_PACKAGE is set (the release pass builds and tests the package)"
    if os.geteuid() != 0:
        return "installing a .deb needs root"
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        if shutil.which(tool) is None:
            return "%s is not installed (apt-get install dpkg-dev debhelper lintian)" % tool
    if subprocess.run(["dpkg", "-s", "relay"], capture_output=True).returncode == 0:
        return "a relay package is already installed on this machine; not replacing it"
    return None


def version():
    first = (REPO_ROOT / "debian" / "changelog").read_text().splitlines()[0]
    return re.match(r"relay \(([^)]+)\)", first).group(1)


class PackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        reason = missing_prerequisite()
        if reason:
            raise unittest.SkipTest(reason)
        cls.workdir = Path(tempfile.mkdtemp(prefix="relay-deb-"))
        source = cls.workdir / "relay"
        # The tree as committed or edited, without build directories.
        shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(
            ".git", "build", "build-*", "obj-*", "__pycache__", "debian/relay", "debian/.debhelper"))
        env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=%d" % (os.cpu_count() or 2))
        p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=source, env=env,
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        cls.build_log = p.stdout + p.stderr
        if p.returncode != 0:
            shutil.rmtree(cls.workdir, ignore_errors=True)
            raise AssertionError("dpkg-buildpackage failed:\n" + cls.build_log[-6000:])
        cls.deb = cls.workdir / ("relay_%s_amd64.deb" % version())
        cls.installed = False

    @classmethod
    def tearDownClass(cls):
        if cls.installed:
            subprocess.run(["dpkg", "--purge", "relay"], capture_output=True, timeout=120)
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def install(self):
        if not type(self).installed:
            p = subprocess.run(["dpkg", "-i", str(self.deb)], capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            type(self).installed = True

    def test_1_the_deb_is_built_and_lintian_reports_no_error(self):
        self.assertTrue(self.deb.exists(), sorted(os.listdir(self.workdir)))
        p = subprocess.run(["lintian", "--fail-on", "error", str(self.deb)], capture_output=True, text=True,
                           timeout=600)
        errors = [line for line in p.stdout.splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_2_it_installs_files_where_debian_puts_them(self):
        self.install()
        for path in ("/usr/bin/relay", "/etc/relay/relay.toml", "/lib/systemd/system/relay.service",
                     "/usr/share/man/man8/relay.8.gz", "/usr/share/man/man5/relay.toml.5.gz"):
            self.assertTrue(Path(path).exists(), path)
        conffiles = subprocess.run(["dpkg-query", "-W", "-f", "${Conffiles}", "relay"],
                                   capture_output=True, text=True).stdout
        self.assertIn("/etc/relay/relay.toml", conffiles)  # dpkg asks before replacing an edited one
        p = subprocess.run(["/usr/bin/relay", "--check-config", "/etc/relay/relay.toml"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_3_the_installed_relay_answers(self):
        self.install()
        origin = Origin(self.workdir).start()
        self.addCleanup(origin.stop)
        port, admin = free_port(), free_port()
        overrides = {"RELAY_UPSTREAM_URL": origin.url, "RELAY_SERVER_LISTEN": "%s:%d" % (HOST, port),
                     "RELAY_ADMIN_LISTEN": "%s:%d" % (HOST, admin)}
        if Path("/run/systemd/system").is_dir():
            self.start_with_systemd(overrides)
        else:
            relay = Process("installed-relay", self.workdir)
            relay.spawn(["/usr/bin/relay", "--config", "/etc/relay/relay.toml"], env=dict(os.environ, **overrides))
            self.addCleanup(relay.stop)

        def answered():
            try:
                return get(port, "/package/smoke", timeout=2)
            except OSError:
                return None
        r = wait_until(answered, 15, what="the installed relay to answer")
        self.assertEqual(r.status, 200)
        self.assertIsNotNone(r.header("X-Cache"))  # relay's answer, not the origin's

    def start_with_systemd(self, overrides):
        dropin = Path("/run/systemd/system/relay.service.d")
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "test.conf").write_text("[Service]\n" + "".join(
            'Environment="%s=%s"\n' % kv for kv in overrides.items()))
        self.addCleanup(shutil.rmtree, dropin, True)
        subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=60)
        p = subprocess.run(["systemctl", "restart", "relay"], capture_output=True, text=True, timeout=60)
        self.addCleanup(subprocess.run, ["systemctl", "stop", "relay"], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr + subprocess.run(
            ["journalctl", "-u", "relay", "-n", "30", "--no-pager"], capture_output=True, text=True).stdout)
        state = subprocess.run(["systemctl", "is-active", "relay"], capture_output=True, text=True).stdout.strip()
        self.assertEqual(state, "active")


if __name__ == "__main__":
    unittest.main()
