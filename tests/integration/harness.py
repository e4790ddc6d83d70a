"""Helpers for relay's integration tests: processes (origin, relay), config
files, RSS, and the RelayTestCase base class. Clients live in client.py.

Everything talks to 127.0.0.1 only, and every wait is bounded in time and count.
The relay binary is $RELAY_BIN, or build/relay under the repository root.
"""
import contextlib
import email.utils
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
# Re-exported so tests import everything from harness.
from client import (HOST, RawConn, Response, get, metric, parse_cache_status,  # noqa: E402,F401
                    parse_head, parse_metrics, request)
from origin import body_bytes, body_pieces  # noqa: E402  (shared body pattern)

KiB, MiB = 1024, 1024 * 1024


def relay_bin():
    return os.environ.get("RELAY_BIN") or str(REPO_ROOT / "build" / "relay")


def child_env(extra=None):
    """Our environment minus RELAY_* (relay reads those as config), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(extra or {})
    return env


# run.py -j: worker "i/n" picks ports from its own slice of this range,
# which lies below the kernel's ephemeral ports (32768 up), so neither
# another worker nor a kernel-chosen port (an origin's, a client's) can take
# a port between the pick and relay's bind.
WORKER_PORTS = (20000, 32000)


def free_port(other_than=None):
    """A port free now; not `other_than` (a port picked but not bound yet,
    which the kernel may hand out again)."""
    worker = os.environ.get("RELAY_IT_WORKER")
    if worker:
        index, count = (int(x) for x in worker.split("/"))
        width = (WORKER_PORTS[1] - WORKER_PORTS[0]) // count
        low = WORKER_PORTS[0] + index * width
        for _ in range(1000):
            port = random.randrange(low, low + width)
            if port != other_than and _bindable(port):
                return port
        raise RuntimeError("no free port in %d-%d" % (low, low + width - 1))
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port != other_than:
            return port


def _bindable(port):
    # SO_REUSEADDR as relay's listeners set it: a port whose old connections
    # linger in TIME_WAIT is free for them.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def port_open(port, timeout=0.2):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_concurrently(fn, n, timeout=60):
    """fn(0) .. fn(n-1) on n threads at once; returns [result or exception]."""
    results = [None] * n

    def one(i):
        try:
            results[i] = fn(i)
        except Exception as e:  # recorded, asserted by the caller
            results[i] = e
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until truthy; return its value or raise AssertionError."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def tail(path, lines=60):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return "<%s>" % e
    return "\n".join(text.splitlines()[-lines:])


def target_for(path, hdr=(), **params):
    """path?query for origin.py: keyword params are url-encoded (None is
    skipped), hdr is one "Name: value" string or a list of them (one hdr=
    each). target_for("/x", cc="max-age=60", hdr=["Vary: Accept"])."""
    items = [(k, str(v)) for k, v in params.items() if v is not None]
    items += [("hdr", h) for h in ([hdr] if isinstance(hdr, str) else hdr)]
    if not items:
        return path
    return path + "?" + urllib.parse.urlencode(items, quote_via=urllib.parse.quote)


def http_date(epoch=None):
    """An IMF-fixdate (RFC 9110 5.6.7) for Unix seconds (default: now)."""
    return email.utils.formatdate(time.time() if epoch is None else epoch, usegmt=True)


def parse_http_date(value):
    """Unix seconds of an HTTP-date (None if it does not parse)."""
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return None if dt is None else dt.timestamp()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def expected_body(path, size):
    """The body origin.py sends for `path` (no query) with size=`size`."""
    return body_bytes(path, size)


def expected_sha(path, size):
    h = hashlib.sha256()
    for piece in body_pieces(path, size):
        h.update(piece)
    return h.hexdigest()


# --------------------------------------------------------------------------
# Processes


class Process:
    """A child process whose stdout/stderr go to files in workdir."""

    def __init__(self, name, workdir):
        self.name, self.workdir = name, Path(workdir)
        self.stdout_path = self.workdir / (name + ".stdout")
        self.stderr_path = self.workdir / (name + ".stderr")
        self.proc = None

    def spawn(self, argv, env=None):
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=env, cwd=str(self.workdir))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.proc.kill()
                self.wait(5.0)
        return self.proc.returncode

    def logs(self, lines=60):
        return "---- %s stdout (%s) ----\n%s\n---- %s stderr (%s) ----\n%s" % (
            self.name, self.stdout_path, tail(self.stdout_path, lines),
            self.name, self.stderr_path, tail(self.stderr_path, lines))


class OriginTls:
    """An HTTPS origin's settings (origin.py --tls-*): its certificate and key,
    client_ca to require client certificates, max_version "1.2" to refuse
    TLS 1.3. ca, client_cert and client_key are what the harness itself
    presents on the origin's control endpoints."""

    def __init__(self, cert, key, ca, client_ca=None, max_version=None, client_cert=None, client_key=None):
        self.cert, self.key, self.ca = cert, key, ca
        self.client_ca, self.max_version = client_ca, max_version
        self.client_cert, self.client_key = client_cert, client_key

    def argv(self):
        out = ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]
        if self.client_ca:
            out += ["--tls-client-ca", str(self.client_ca)]
        if self.max_version:
            out += ["--tls-max-version", self.max_version]
        return out

    def client_context(self):
        ctx = ssl.create_default_context(cafile=str(self.ca))
        # The chain is checked, not the name: some test certificates name
        # origin.test only, and the harness connects to 127.0.0.1.
        ctx.check_hostname = False
        if self.client_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


class Origin(Process):
    """origin.py on 127.0.0.1; with tls (an OriginTls) it serves HTTPS."""

    def __init__(self, workdir, tls=None, name="origin"):
        super().__init__(name, workdir)
        self.port = None
        self.tls = tls

    def start(self, timeout=10.0, port=None):
        """Start listening on `port` (default: any free one; a restart passes
        the old port so a relay pointed at it finds the origin again)."""
        port_file = self.workdir / (self.name + ".port")
        if port_file.exists():
            port_file.unlink()
        self.spawn(self.argv(port or 0, port_file), env=child_env())

        def ready():
            if not self.alive():
                raise RuntimeError("origin exited early\n" + self.logs())
            return port_file.exists() and port_file.read_text().strip()

        self.port = int(wait_until(ready, timeout, what="origin port file"))
        return self

    def argv(self, port, port_file):
        """The command line; other origins (ws_origin.py) override it."""
        return [sys.executable, str(HERE / "origin.py"), "--port", str(port),
                "--port-file", str(port_file), "--verbose"] + (self.tls.argv() if self.tls else [])

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", HOST, self.port)

    def connection(self):
        """A connection to this origin, over TLS when it serves HTTPS."""
        if self.tls:
            return http.client.HTTPSConnection(HOST, self.port, timeout=10, context=self.tls.client_context())
        return http.client.HTTPConnection(HOST, self.port, timeout=10)

    def _get_json(self, target):
        conn = self.connection()
        try:
            conn.request("GET", target)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self, path=None, target=None):
        """Requests seen: {count, last} for a path (query ignored) or exact target,
        or everything ({total, targets, paths}) when neither is given."""
        if path is not None:
            return self._get_json("/__stats?path=" + urllib.parse.quote(path, safe=""))
        if target is not None:
            return self._get_json("/__stats?target=" + urllib.parse.quote(target, safe=""))
        return self._get_json("/__stats")

    def count(self, path):
        return self.stats(path=path)["count"]

    def reset(self):
        self._get_json("/__reset")

    def restart(self, timeout=10.0):
        """Stop and start again on the same port (stats and scripts are lost)."""
        self.stop()
        return self.start(timeout=timeout, port=self.port)

    def requests(self, path):
        """Every request seen for path (query ignored), oldest first: dicts with
        seq, time, method, target, headers ([name, value] pairs), status."""
        return self._get_json("/__requests?path=" + urllib.parse.quote(path, safe=""))

    def script(self, path, steps):
        """Answer requests to path from `steps` (see origin.py): the Nth request
        gets steps[N], the last step repeats. Replaces any earlier script."""
        conn = self.connection()
        try:
            conn.request("POST", "/__script?path=" + urllib.parse.quote(path, safe=""),
                         body=json.dumps(list(steps)).encode(),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise AssertionError("origin refused the script: %s" % body)
        finally:
            conn.close()

    def unscript(self, path):
        conn = self.connection()
        try:
            conn.request("DELETE", "/__script?path=" + urllib.parse.quote(path, safe=""))
            conn.getresponse().read()
        finally:
            conn.close()


def request_header(req, name):
    """All values of `name` in a recorded origin request (Origin.requests), joined
    with ', ', or None."""
    vals = [v for k, v in req["headers"] if k.lower() == name.lower()]
    return ", ".join(vals) if vals else None


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError("cannot write %r as TOML" % (v,))


def is_table_array(v):
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, dict) for x in v)


def to_toml(config):
    """{"server": {"listen": ..}, "cache": {"key": {...}, "rules": [{...}, ...]}}
    -> TOML text. A non-empty list of dicts becomes an array of tables
    ([[cache.rules]]), written in list order."""
    out = []

    def table(name, d):
        scalars = {k: v for k, v in d.items()
                   if not isinstance(v, dict) and not is_table_array(v)}
        if scalars or not name.count("."):
            out.append("[%s]" % name)
            out.extend("%s = %s" % (k, toml_value(v)) for k, v in scalars.items())
            out.append("")
        for k, v in d.items():
            if isinstance(v, dict):
                table(name + "." + k, v)
        for k, v in d.items():
            if is_table_array(v):
                for item in v:
                    out.append("[[%s.%s]]" % (name, k))
                    for ik, iv in item.items():
                        if isinstance(iv, dict) or is_table_array(iv):
                            raise TypeError("nested tables inside [[%s.%s]] are not supported"
                                            % (name, k))
                        out.append("%s = %s" % (ik, toml_value(iv)))
                    out.append("")

    for name, d in config.items():
        table(name, d)
    return "\n".join(out)


def merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


class Relay(Process):
    """relay --config FILE, with a config generated from defaults + overrides."""

    def __init__(self, workdir, upstream_url, config=None, env=None, port=None):
        super().__init__("relay", workdir)
        self.port = port or free_port()
        server = {"listen": "%s:%d" % (HOST, self.port), "shutdown_grace": "5s"}
        # RELAY_IT_THREADS=2: every relay runs that many event loops unless
        # its test sets server.threads (the ThreadSanitizer pass).
        if os.environ.get("RELAY_IT_THREADS"):
            server["threads"] = int(os.environ["RELAY_IT_THREADS"])
        self.config = merge({
            "server": server,
            "admin": {"listen": "%s:%d" % (HOST, free_port(other_than=self.port))},
            "upstream": {"url": upstream_url} if upstream_url else {},
            "log": {"level": os.environ.get("RELAY_IT_LOG_LEVEL", "info")},
        }, config)
        # TOML appended as written: what to_toml cannot express ([[origins]]
        # with inline tables, [[routes]]).
        self.extra_toml = ""
        self.env = env or {}
        self.config_path = self.workdir / "relay.toml"

    def start(self, timeout=10.0, wait_port=None):
        binary = relay_bin()
        if not os.access(binary, os.X_OK):
            raise RuntimeError("relay binary not found or not executable: %s "
                               "(build it, or set RELAY_BIN / run.py --relay)" % binary)
        self.config_path.write_text(to_toml(self.config) + "\n" + self.extra_toml)
        self.spawn([binary, "--config", str(self.config_path)], env=child_env(self.env))
        port = wait_port or self.port

        def ready():
            if not self.alive():
                raise RuntimeError("relay exited early with %s\n%s\n---- config ----\n%s" % (
                    self.proc.returncode, self.logs(), self.config_path.read_text()))
            return port_open(port)

        wait_until(ready, timeout, interval=0.05, what="relay to listen on %d" % port)
        return self

    @property
    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    def rss(self):
        return read_rss(self.pid)

    def setting(self, section, key, default=""):
        """A config value as relay sees it: the RELAY_* environment, else the file."""
        env = "RELAY_%s_%s" % (section.upper(), key.upper())
        if env in self.env:
            return self.env[env]
        return self.config.get(section, {}).get(key, default)

    @property
    def admin_port(self):
        """The admin listener's port; None when [admin] listen = \"\"."""
        listen = self.setting("admin", "listen", "127.0.0.1:9091")
        return int(listen.rsplit(":", 1)[1]) if listen else None

    @property
    def metrics_port(self):
        """Where relay serves /metrics: the admin listener (metrics.listen = \"\"),
        the client one ("public") or an address of its own."""
        listen = self.setting("metrics", "listen")
        if listen == "public":
            return self.port
        return int(listen.rsplit(":", 1)[1]) if listen else self.admin_port

    def admin(self, method, target, headers=None, **kw):
        """A request to the admin listener. relay opens it just after the
        client listener the start-up wait watches, so a first request may
        come a moment early (slow sanitizer builds): retried for up to 5 s."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return request(self.admin_port, method, target, headers=headers, **kw)
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def metrics(self, path="/metrics"):
        r = request(self.metrics_port, "GET", path)
        assert r.status == 200, "GET %s -> %d" % (path, r.status)
        return r.body.decode()


def run_relay_cli(args, timeout=10.0, env=None):
    """Run relay with args to completion; returns CompletedProcess (text)."""
    return subprocess.run([relay_bin()] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=child_env(env), stdin=subprocess.DEVNULL)


def read_rss(pid):
    """{"VmRSS": bytes, "VmHWM": bytes} from /proc/PID/status."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


# --------------------------------------------------------------------------
# Test base class


class RelayTestCase(unittest.TestCase):
    """One origin + one relay per class. Subclasses set RELAY_CONFIG (overrides
    merged into the defaults; override relay_config() to compute them) and/or
    START_RELAY = False (then make_relay() in tests and assign cls.relay so
    teardown and diagnostics see it). On a failing test the
    tails of the relay and origin logs are appended to the failure report."""

    RELAY_CONFIG = {}
    RELAY_ENV = {}
    START_RELAY = True

    @classmethod
    def setUpClass(cls):
        cls.workdir = Path(tempfile.mkdtemp(prefix="relay-it-"))
        cls.origin = Origin(cls.workdir)
        cls.relay = None
        try:
            cls.origin.start()
            if cls.START_RELAY:
                cls.relay = cls.make_relay(cls.relay_config(), env=cls.RELAY_ENV).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def relay_config(cls):
        return cls.RELAY_CONFIG

    @classmethod
    def make_relay(cls, config=None, env=None, name="relay", upstream=None, port=None):
        d = cls.workdir / name
        d.mkdir(exist_ok=True)
        return Relay(d, upstream or cls.origin.url, config=config, env=env, port=port)

    @classmethod
    def tearDownClass(cls):
        if cls.relay:
            cls.relay.stop()
        cls.origin.stop()
        if not os.environ.get("RELAY_IT_KEEP"):
            shutil.rmtree(cls.workdir, ignore_errors=True)

    # -- diagnostics on failure ------------------------------------------
    def diagnostics(self):
        parts = []
        for proc in (getattr(self, "relay", None), getattr(self, "origin", None)):
            if proc is not None:
                parts.append(proc.logs())
        return "\n".join(parts)

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for lst in (result.failures, result.errors):
                for i, (test, tb) in enumerate(lst):
                    if test is self and "---- relay" not in tb:
                        lst[i] = (test, tb + "\n" + self.diagnostics())
        return result

    # -- conveniences ------------------------------------------------------
    @property
    def port(self):
        return self.relay.port

    def get(self, target, headers=None, **kw):
        return get(self.relay.port, target, headers=headers, **kw)

    def request(self, method, target, headers=None, body=None, **kw):
        return request(self.relay.port, method, target, headers=headers, body=body, **kw)

    def raw(self, **kw):
        return RawConn(self.relay.port, **kw)

    def assertXCache(self, resp, want):
        self.assertEqual(resp.header("X-Cache"), want,
                         "X-Cache for %r (status %d)" % (resp.headers, resp.status))

    # -- RFC 9111 helpers -------------------------------------------------
    def script(self, path, *steps):
        """Install an origin script for path (see Origin.script / origin.py)."""
        self.origin.script(path, steps)

    @contextlib.contextmanager
    def origin_down(self):
        """Stop the origin (connections to its port are refused) for the body of
        the with-block, then start it again on the same port. Its stats and
        scripts are lost."""
        self.origin.stop()
        try:
            yield
        finally:
            self.origin.start(port=self.origin.port)

    ABSENT = object()

    def assertCacheStatus(self, resp, name="relay", **want):
        """Check relay's Cache-Status entry (RFC 9211; the last list member).
        Keywords are parameters with '-' spelled '_' (hit, fwd, fwd_status,
        ttl, stored, collapsed, detail, key): a value must be equal; ABSENT
        means the parameter must not be there; a (lo, hi) tuple is an
        inclusive numeric range. Returns the parsed parameters."""
        value = resp.header("Cache-Status")
        self.assertIsNotNone(value, "no Cache-Status on %r" % (resp,))
        entries = parse_cache_status(value)
        self.assertTrue(entries, "unparsable Cache-Status %r" % value)
        got_name, params = entries[-1]
        self.assertEqual(got_name, name, "cache name in Cache-Status %r" % value)
        for key, expect in want.items():
            pname = key.replace("_", "-")
            if expect is self.ABSENT:
                self.assertNotIn(pname, params, "%s in Cache-Status %r" % (pname, value))
                continue
            self.assertIn(pname, params, "%s missing from Cache-Status %r" % (pname, value))
            got = params[pname]
            if isinstance(expect, tuple):
                self.assertIsInstance(got, int, "%s in %r is not an integer" % (pname, value))
                self.assertTrue(expect[0] <= got <= expect[1],
                                "%s=%r not in %r (Cache-Status %r)" % (pname, got, expect, value))
            else:
                self.assertEqual(got, expect, "%s in Cache-Status %r" % (pname, value))
        return params

    def assertBody(self, resp, path, size):
        self.assertEqual(len(resp.body), size, "body length")
        self.assertTrue(resp.body == expected_body(path, size), "body content differs")


# --------------------------------------------------------------------------
# Storage backends: restarting relay, redis-server, the disk cache layout


class RedisRelayCase(RelayTestCase):
    """One redis-server and one relay storing in it. REDIS_STORAGE is merged
    into [storage.redis] (url set here); redis_server_bin() must find one."""
    START_RELAY = False
    REDIS_STORAGE = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = None
        try:
            if not redis_server_bin():
                raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
            cls.redis = RedisServer(cls.workdir).start()
            redis = dict(cls.REDIS_STORAGE, url=cls.redis.url)
            cls.relay = cls.make_relay({"storage": {"backend": "redis", "redis": redis}}).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "redis", None):
            cls.redis.signal(signal.SIGCONT)  # a test may have frozen it
            cls.redis.stop()
        super().tearDownClass()

    def diagnostics(self):
        return super().diagnostics() + ("\n" + self.redis.logs() if self.redis else "")


def kill_relay(relay, timeout=5.0):
    """SIGKILL relay (no drain, no cleanup: a crash) and reap it."""
    if relay.alive():
        relay.signal(signal.SIGKILL)
        if relay.wait(timeout) is None:
            raise AssertionError("relay did not die within %.1fs of SIGKILL" % timeout)


def restart_relay(relay, kill=False, timeout=10.0):
    """Stop relay (SIGTERM, or SIGKILL when kill=True) and start it again with
    the same config file and port. Returns relay."""
    if kill:
        kill_relay(relay)
    else:
        relay.stop()
    return relay.start(timeout=timeout)


def files_under(root):
    """Regular files below root (recursively), sorted; [] if root is missing."""
    root = Path(root)
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file())


def disk_object_path(cache_root, body):
    """Where the disk backend keeps a body stored as it came (no compression):
    objects/<first 2 hex digits of SHA-256>/<the other 62>."""
    digest = hashlib.sha256(body).hexdigest()
    return Path(cache_root) / "objects" / digest[:2] / digest[2:]


def flip_bytes(path, offsets, mask=0x5A):
    """XOR the bytes at offsets of a file in place (size unchanged)."""
    with open(path, "r+b") as f:
        for off in offsets:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ mask]))


def fetch_whole(port, target, headers=None, timeout=10.0):
    """GET on a fresh connection: (Response, True) when the response arrived
    complete, (None, False) when the connection was cut short or reset."""
    with RawConn(port, timeout=timeout) as c:
        c.request("GET", target, headers=headers)
        try:
            return c.read_response(), True
        except (ConnectionError, OSError, ValueError):
            return None, False


def fetch_partial(port, target, headers=None, timeout=10.0):
    """GET on a fresh connection that keeps whatever arrived, even from a
    response cut short: (Response with .body = the bytes received, complete),
    or (None, False) when not even the head arrived. Reads a Content-Length
    body, or to the end of the connection without one."""
    parts = []
    with RawConn(port, timeout=timeout) as c:
        c.request("GET", target, headers=headers)
        try:
            resp = parse_head(c.read_head())
        except (ConnectionError, OSError, ValueError):
            return None, False
        length = resp.header("content-length")
        try:
            if length is None:
                c.read_to_eof(parts.append)
            else:
                c.read_exact(int(length), parts.append)
            complete = length is not None
        except (ConnectionError, OSError, ValueError):
            complete = False
        resp.body = b"".join(parts)
        return resp, complete


def redis_server_bin():
    return shutil.which("redis-server")


def resp_command(port, *args, timeout=2.0):
    """One Redis command over RESP on a fresh connection; the decoded reply
    (str, int, None, list, or an Exception instance for an error reply)."""
    payload = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        payload += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(payload)
        f = s.makefile("rb")

        def read():
            line = f.readline()
            if not line:
                raise ConnectionError("redis closed the connection")
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                return Exception(rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)
                return data[:-2].decode("latin-1")
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            raise ValueError("bad RESP line %r" % line)

        return read()


class RedisServer(Process):
    """redis-server on 127.0.0.1 without persistence. The first start() takes a
    free port; later ones (after kill() or stop()) reuse it, so a relay
    configured with .url finds the server again."""

    def __init__(self, workdir, name="redis", extra=()):
        super().__init__(name, workdir)
        self.port = None
        self.extra = list(extra)  # more redis-server arguments, e.g. ["--replicaof", host, port]

    def start(self, timeout=10.0):
        binary = redis_server_bin()
        if not binary:
            raise RuntimeError("redis-server not found on PATH")
        self.port = self.port or free_port()
        argv = [binary, "--port", str(self.port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir),
                "--logfile", "", "--loglevel", "warning"] + self.extra
        self.spawn(argv, env=child_env())

        def ready():
            if not self.alive():
                raise RuntimeError("redis-server exited early\n" + self.logs())
            try:
                return resp_command(self.port, "PING", timeout=0.5) == "PONG"
            except OSError:
                return False

        wait_until(ready, timeout, interval=0.05, what="redis-server on %d" % self.port)
        return self

    @property
    def url(self):
        return "redis://%s:%d/0" % (HOST, self.port)

    def kill(self, timeout=5.0):
        """SIGKILL: every client connection breaks at once."""
        if self.alive():
            self.proc.kill()
            self.wait(timeout)

    def command(self, *args):
        return resp_command(self.port, *args)


def wait_stored(port, target, timeout=5.0, headers=None):
    """Poll with Cache-Control: only-if-cached (never reaches the origin) until
    relay answers target from its store: backends that commit after the
    response has gone out (disk fsync, Redis) publish the entry a moment
    later. Returns the HIT response; AssertionError after timeout."""
    last = []

    def stored():
        r = get(port, target, headers=dict(headers or {}, **{"Cache-Control": "only-if-cached"}))
        last[:] = [r]
        return r if r.status == 200 and r.header("X-Cache") == "HIT" else None

    try:
        return wait_until(stored, timeout, interval=0.02, what="%s to be stored" % target)
    except AssertionError:
        r = last[0] if last else None
        raise AssertionError("%s not stored within %.1fs (last only-if-cached answer: %s, X-Cache %s)"
                             % (target, timeout, r.status if r else None,
                                r.header("X-Cache") if r else None))
