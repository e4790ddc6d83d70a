"""HTTP clients for the integration tests: a byte-exact raw-socket connection
with a small HTTP/1.1 response reader (chunked, Content-Length, to-EOF bodies),
a one-shot http.client wrapper, and a Prometheus text parser. 127.0.0.1 only;
every loop is bounded."""
import http.client
import json
import re
import socket
import time

HOST = "127.0.0.1"
MiB = 1024 * 1024

# --------------------------------------------------------------------------
# Clients


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # list of (name, value) as received
        self.body, self.raw_head = body, raw_head

    def header(self, name, default=None):
        """All values of name joined with ', ' (case-insensitive), or default."""
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else default

    def has(self, name):
        return any(k.lower() == name.lower() for k, _ in self.headers)

    def json(self):
        return json.loads(self.body)

    def cache_status(self):
        """Cache-Status (RFC 9211) as [(cache name, {param: value})], or []."""
        return parse_cache_status(self.header("Cache-Status") or "")

    def __repr__(self):
        return "<Response %s %d %r, %d body bytes>" % (self.version, self.status,
                                                       self.headers, len(self.body or b""))


def parse_head(raw):
    """A response head (status line and fields, up to the blank line) as a
    Response without a body."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    headers = []
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
    return Response(version, int(code), reason, headers, None, raw)


class RawConn:
    """One TCP connection with byte-exact control and a small HTTP/1.1 reader."""

    MAX_HEAD = 1 * MiB

    def __init__(self, port, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.port = port
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, target, headers=None, body=None):
        """Send a request (Host and Content-Length added unless given)."""
        hdrs = list(headers.items() if isinstance(headers, dict) else headers or [])
        names = {k.lower() for k, _ in hdrs}
        if "host" not in names:
            hdrs.insert(0, ("Host", "%s:%d" % (HOST, self.port)))
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            hdrs.append(("Content-Length", str(len(body))))
        head = "%s %s HTTP/1.1\r\n" % (method, target)
        head += "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
        self.send(head.encode("latin-1") + (body or b""))

    def _fill(self, n=65536):
        data = self.sock.recv(n)
        if not data:
            raise ConnectionError("connection closed by peer")
        self.buf += data

    def _take(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def readline(self):
        for _ in range(100000):
            i = self.buf.find(b"\n")
            if i >= 0:
                return self._take(i + 1)
            if len(self.buf) > self.MAX_HEAD:
                raise ValueError("line too long")
            self._fill()
        raise ValueError("line too long")

    def read_head(self):
        for _ in range(100000):
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                return self._take(i + 4)
            if len(self.buf) > self.MAX_HEAD:
                raise ValueError("response head too large")
            self._fill()
        raise ValueError("response head too large")

    def read_exact(self, n, sink):
        left = n
        for _ in range(n + 1):  # every pass takes >= 1 byte or raises
            if left <= 0:
                return
            if not self.buf:
                self._fill(min(max(left, 4096), 262144))
            piece = self._take(left)
            left -= len(piece)
            sink(piece)
        raise ValueError("read_exact did not finish")

    def read_response(self, method="GET", sink=None, piece_hook=None):
        """Read one response (a 1xx is returned on its own). Chunked bodies are
        decoded. Body pieces go to sink(bytes) if given (then .body is None),
        and piece_hook(bytes_so_far) is called after each piece."""
        resp = parse_head(self.read_head())
        parts, got = [], [0]

        def put(data):
            got[0] += len(data)
            (sink or parts.append)(data)
            if piece_hook:
                piece_hook(got[0])

        status = resp.status
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in (resp.header("transfer-encoding") or "").lower():
            for _ in range(10_000_000):
                size = int(self.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    for _ in range(1000):  # trailers
                        if self.readline() in (b"\r\n", b"\n"):
                            break
                    break
                self.read_exact(size, put)
                self.readline()
        elif resp.header("content-length") is not None:
            self.read_exact(int(resp.header("content-length")), put)
        else:
            self.read_to_eof(put)
        resp.body = None if sink else b"".join(parts)
        return resp

    def read_to_eof(self, sink=None, timeout=None):
        """Read until the peer closes; returns the bytes (or feeds sink)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        parts = []
        put = sink or parts.append
        if self.buf:
            put(self._take(len(self.buf)))
        for _ in range(10_000_000):
            data = self.sock.recv(262144)
            if not data:
                break
            put(data)
        return b"".join(parts)

    def closed_by_peer(self, timeout=3.0):
        """True if the peer closes (EOF or reset) within timeout; buffered or
        newly received bytes are kept in self.buf."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not data:
                return True
            self.buf += data
            if time.monotonic() > deadline:
                return False
        return False


def request(port, method, target, headers=None, body=None, timeout=10.0):
    """One request on a fresh http.client connection; returns a Response."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return Response("HTTP/%d.%d" % divmod(r.version, 10), r.status, r.reason,
                        r.getheaders(), body, None)
    finally:
        conn.close()


def get(port, target, headers=None, **kw):
    return request(port, "GET", target, headers=headers, **kw)


# --------------------------------------------------------------------------
# Cache-Status (RFC 9211): a Structured Fields List (RFC 8941) of tokens or
# strings with parameters.

_SF_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_SF_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_NUM = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _sf_string(text, i):
    """Parse an sf-string starting at text[i] == '"'; returns (value, next index)."""
    out, i = [], i + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ValueError("unterminated string")


def _sf_bare_item(text, i):
    if text[i] == '"':
        return _sf_string(text, i)
    if text[i] == "?" and text[i + 1:i + 2] in ("0", "1"):
        return text[i + 1] == "1", i + 2
    m = _SF_NUM.match(text, i)
    if m:
        v = m.group(0)
        return (float(v) if "." in v else int(v)), m.end()
    m = _SF_TOKEN.match(text, i)
    if m:
        return m.group(0), m.end()
    raise ValueError("bad item at %d in %r" % (i, text))


def parse_cache_status(value):
    """'relay; hit; ttl=5, other; fwd=miss' -> [("relay", {"hit": True, "ttl": 5}),
    ("other", {"fwd": "miss"})]. Raises ValueError on malformed input."""
    out, i, n = [], 0, len(value)
    skip = lambda j: j + len(value[j:]) - len(value[j:].lstrip(" \t"))  # noqa: E731
    i = skip(i)
    while i < n:
        name, i = _sf_bare_item(value, i)
        params = {}
        i = skip(i)
        while i < n and value[i] == ";":
            i = skip(i + 1)
            m = _SF_KEY.match(value, i)
            if not m:
                raise ValueError("bad parameter key at %d in %r" % (i, value))
            key, i = m.group(0), m.end()
            if i < n and value[i] == "=":
                params[key], i = _sf_bare_item(value, i + 1)
            else:
                params[key] = True
            i = skip(i)
        out.append((str(name), params))
        if i < n:
            if value[i] != ",":
                raise ValueError("expected ',' at %d in %r" % (i, value))
            i = skip(i + 1)
    return out


# --------------------------------------------------------------------------
# Metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            labels = dict(_LABEL.findall(m.group(3) or ""))
            out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric(text, name, **labels):
    """Sum of all samples of name whose labels include `labels`; None if absent."""
    vals = [v for n, ls, v in parse_metrics(text)
            if n == name and all(ls.get(k) == want for k, want in labels.items())]
    return sum(vals) if vals else None
