"""The README's run command, scripts/run.sh, run as a newcomer would: with no
origin configured it starts the demo origin, prints the curl commands, and
those show a MISS then a HIT; with RELAY_UPSTREAM_URL it fronts that origin.
Ctrl-C (SIGINT to the process group) or SIGTERM stops everything it started.

run.sh installs what is missing and builds first; with the build present both
are quick (dpkg-query and a no-op ninja), but a stale build/ is rebuilt here,
so the wait for the port is generous. Each run gets a session of its own, so
"nothing left behind" is "no live process in that session".
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import unittest

from harness import (REPO_ROOT, RelayTestCase, child_env, free_port, get, port_open, tail,
                     wait_until)

START_TIMEOUT = 180  # install-deps + build.sh when up to date take seconds
STOP_TIMEOUT = 20    # relay's shutdown_grace in relay.example.toml is 10 s


def session_processes(sid):
    """Live (not zombie) processes in session sid: [(pid, cmdline)]."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            out.append((int(entry), cmd))
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
    return out


class RunScript:
    """scripts/run.sh in a new session, output to files in workdir."""

    def __init__(self, workdir, env, name="run"):
        self.stdout_path = workdir / (name + ".stdout")
        self.stderr_path = workdir / (name + ".stderr")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(REPO_ROOT / "scripts" / "run.sh")], cwd=str(REPO_ROOT),
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=child_env(env), start_new_session=True)
        self.sid = self.proc.pid

    def logs(self):
        return "---- run.sh stdout ----\n%s\n---- run.sh stderr ----\n%s" % (
            tail(self.stdout_path), tail(self.stderr_path))

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def wait_listening(self, port):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("run.sh exited with %s\n%s" % (self.proc.returncode, self.logs()))
            return port_open(port)
        wait_until(ready, START_TIMEOUT, interval=0.1, what="scripts/run.sh to listen on %d" % port)

    def wait_exit(self):
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError("run.sh still running %ds after the signal\n%s" % (STOP_TIMEOUT, self.logs()))

    def kill_leftovers(self):
        """Last resort for a failed test: nothing may outlive the suite."""
        for pid, _ in session_processes(self.sid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)


def curl(command):
    """Run one printed `curl -i URL` command; returns (status line, {lower-name: value})."""
    p = subprocess.run(shlex.split(command), capture_output=True, timeout=15, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, "%s: exit %d %s" % (command, p.returncode, p.stderr.decode(errors="replace"))
    head = p.stdout.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return head[0], headers


class QuickStartTest(RelayTestCase):
    START_RELAY = False

    def start_script(self, env, name):
        script = RunScript(self.workdir, env, name)
        self.addCleanup(script.kill_leftovers)
        return script

    def assert_all_gone(self, script, ports):
        wait_until(lambda: not session_processes(script.sid), 5, interval=0.05,
                   what="every process run.sh started to exit (left: %s)" % session_processes(script.sid))
        for port in ports:
            self.assertFalse(port_open(port), "port %d still open" % port)

    def start_demo(self, name):
        """run.sh without an origin; returns (script, relay port, demo origin port, curl commands)."""
        port = free_port()
        script = self.start_script({"RELAY_SERVER_LISTEN": "127.0.0.1:%d" % port}, name)
        script.wait_listening(port)
        out = script.stdout()
        origin = re.search(r"http://127\.0\.0\.1:(\d+)/ and relay fronts it", out)
        self.assertIsNotNone(origin, "run.sh must say where the demo origin is\n" + script.logs())
        commands = [line.split("#", 1)[0].strip() for line in out.splitlines()
                    if line.strip().startswith("curl ")]
        return script, port, int(origin.group(1)), commands

    def test_without_an_origin_the_printed_curls_show_miss_then_hit_and_ctrl_c_stops_both(self):
        self.assertTrue(shutil.which("curl"), "curl is installed by scripts/install-deps.sh")
        script, port, origin_port, commands = self.start_demo("demo")
        self.assertNotEqual(origin_port, 9000)
        self.assertTrue(port_open(origin_port), "demo origin listening")
        self.assertEqual(commands, ["curl -i http://127.0.0.1:%d/" % port] * 2, script.logs())

        status, first = curl(commands[0])
        self.assertIn(" 200", status)
        self.assertEqual(first.get("x-cache"), "MISS", first)
        self.assertIn("max-age=60", first.get("cache-control", ""))
        self.assertIn("etag", first)
        status, second = curl(commands[1])
        self.assertIn(" 200", status)
        self.assertEqual(second.get("x-cache"), "HIT", second)
        self.assertIn("age", second)
        self.assertEqual(second.get("etag"), first["etag"])
        # The HIT never reached the origin: it counts one request so far.
        self.assertEqual(get(origin_port, "/").header("X-Demo-Origin-Requests"), "2")

        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(script.sid, signal.SIGINT)
        self.assertEqual(script.wait_exit(), 0, script.logs())
        self.assert_all_gone(script, [port, origin_port])

    def test_sigterm_to_the_script_stops_relay_and_the_demo_origin(self):
        script, port, origin_port, _ = self.start_demo("demo-term")
        self.assertEqual(get(port, "/").status, 200)
        names = " ".join(cmd for _, cmd in session_processes(script.sid))
        self.assertIn("demo-origin.py", names)
        self.assertIn("build/relay", names)
        script.proc.send_signal(signal.SIGTERM)  # as a supervisor would: the script alone
        self.assertEqual(script.wait_exit(), 0, script.logs())
        self.assert_all_gone(script, [port, origin_port])

    def test_with_relay_upstream_url_it_fronts_that_origin_and_no_demo(self):
        port = free_port()
        script = self.start_script({"RELAY_UPSTREAM_URL": self.origin.url,
                                    "RELAY_SERVER_LISTEN": "127.0.0.1:%d" % port}, "own-origin")
        script.wait_listening(port)
        target = "/qs/own?cc=max-age%3D60&size=100"
        self.assertEqual(get(port, target).header("X-Cache"), "MISS")
        self.assertEqual(get(port, target).header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/qs/own"), 1)
        names = " ".join(cmd for _, cmd in session_processes(script.sid))
        self.assertNotIn("demo-origin.py", names)
        self.assertNotIn("relay demo", script.stdout())
        script.proc.send_signal(signal.SIGTERM)
        self.assertEqual(script.wait_exit(), 0, script.logs())
        self.assert_all_gone(script, [port])


class DemoOriginTest(RelayTestCase):
    """The demo origin alone: cacheable page, ETag revalidation, 404 elsewhere."""
    START_RELAY = False

    def test_page_etag_and_304(self):
        port_file = self.workdir / "demo.port"
        proc = subprocess.Popen([shutil.which("python3") or "python3",
                                 str(REPO_ROOT / "scripts" / "demo-origin.py"), "--port-file", str(port_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(5)))
        port = int(wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 10,
                              what="demo origin port file"))
        r = get(port, "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Cache-Control"), "public, max-age=60")
        self.assertIn(b"relay's demo origin", r.body)
        etag = r.header("ETag")
        self.assertEqual(get(port, "/", headers={"If-None-Match": etag}).status, 304)
        self.assertEqual(get(port, "/", headers={"If-None-Match": '"other"'}).status, 200)
        self.assertEqual(get(port, "/elsewhere").status, 404)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(5), 0)


if __name__ == "__main__":
    unittest.main()
