#!/usr/bin/env python3
"""Scriptable HTTP/1.1 origin server for relay's integration tests (stdlib only).

Start:  python3 origin.py --port 0 --port-file F   (listens on 127.0.0.1; the
bound port is written to F once listening). SIGTERM/SIGINT stop it.

TLS:    --tls-cert CERT --tls-key KEY serve HTTPS instead (every endpoint below,
control ones too); --tls-client-ca CA also requires a client certificate
signed by CA; --tls-max-version 1.2 refuses TLS 1.3. Each request's history
record (/__requests) then has "tls": {"sni", "version", "client_cert"} (the
SNI name received or null, e.g. "TLSv1.3", the client certificate's
subject CN or null); null for plain HTTP.

Each request is driven by its query parameters (all optional):
  status=404          response status (default 200)
  size=1024           body size in bytes (default 100); the body is body_bytes(path, size)
  cc=max-age%3D60     Cache-Control value
  hdr=Name:value      extra response header; repeatable
  delay=2             seconds to wait before sending the response head
  body_delay=0.5      seconds to wait between the head and the body
  chunked=1           Transfer-Encoding: chunked instead of Content-Length
  nolength=1          neither: body delimited by closing the connection
  drip=0.05           send the body in pieces of drip_size bytes (default 1024),
  drip_size=1024      sleeping `drip` seconds between pieces (one chunk per piece)
  abort=N             send the full head but close after N body bytes
  pause_at=N&pause=S  stop for S seconds once N body bytes are out (at a piece
                      boundary: use with drip_size)
  etag=1              send ETag; answer a matching If-None-Match with 304
  close=1             send Connection: close and close after the response
  etagv="x"           send this literal ETag (e.g. W/"x"); answer a matching
                      If-None-Match (weak comparison, lists, *) with 304
  lm=EPOCH            send Last-Modified (Unix seconds); without If-None-Match,
                      answer If-Modified-Since >= it with 304
  lm_ago=N            Last-Modified N seconds before Date (same 304 rule)
  expires=N           Expires = Date + N seconds (N may be negative)
  date_ago=N          send a Date N seconds in the past
  nodate=1            send no Date at all
  ranges=1            honour a single "Range: bytes=..." on a 200 (206 / 416)
  te=gzip,%20chunked  send this Transfer-Encoding value instead of Content-Length
                      (the body is chunk-framed when the last coding is chunked,
                      else delimited by closing the connection; nothing is
                      actually compressed)
Every response carries X-Origin-Seq (a global request counter), X-Origin-Path
and Content-Type: application/octet-stream (or application/json for /echo).

/echo (and /echo/...): the body is JSON describing the request: method, target,
path, version, headers (list of [name, value] as received), body_length,
body_sha256. status/cc/hdr/delay still apply.

Control endpoints (not counted): /__stats returns JSON
  {"total": N, "targets": {target: ENTRY}, "paths": {path: ENTRY}}
where a target is the full request-target (path + "?" + query) and a path is
the target without its query; ENTRY = {"count", "last": {"method", "target",
"headers", "body_length", "body_sha256"}}. /__stats?path=/x returns just the
ENTRY for that path, /__stats?target=/x%3Fa%3D1 the ENTRY for that exact
target (count 0 and last null when never seen). /__reset clears everything
(scripts too).

/__connections returns {"open": N, "max": M}: origin connections that have
carried a request (control requests aside) and are still open, and the most
open at once since the start or the last /__reset. A connection counts as
closed as soon as its peer has closed it (POLLRDHUP), even while its handler
is still blocked reading.

/__requests?path=/x returns the requests seen for that path (query ignored),
oldest first (at most the last 1000): a list of {"seq", "time", "method",
"target", "headers": [[name, value], ...], "status"} where status is what the
origin answered (null while it is still being answered).

Scripts: POST /__script?path=/x with a JSON list of steps makes every request
to /x (any query, any method) answered from the script instead of the query
parameters: the Nth request since the script was installed gets step N (the
last step repeats). DELETE /__script?path=/x removes it. A step is an object:
  status        default 200
  headers       [[name, value], ...] sent on full responses (after Date, Server,
                Content-Type: application/octet-stream unless given,
                X-Origin-Seq, X-Origin-Path, ETag, Last-Modified)
  headers_304   sent instead of `headers` when answering 304 (default: headers)
  body          the body as a string, or
  size          a body of that many bytes from body_bytes(path, size) (default 100)
  etag          ETag to send; a request whose If-None-Match matches it (weak
                comparison) gets 304 instead of a 200
  last_modified Last-Modified to send (an HTTP-date string); without
                If-None-Match, If-Modified-Since >= it gets 304 instead of a 200
  delay         seconds before the head is sent
  body_delay    seconds between the head and the body (an origin gone silent)
  date_offset   seconds added to Date (e.g. -100);  "no_date": true sends none
  ranges        true: honour a single byte Range on a 200 (206 / 416)
  close         true: Connection: close
  interim       [{"status": 103, "headers": [[name, value], ...], "after": 0.2}, ...]:
                interim (1xx) responses sent before `delay` and the final head,
                each followed by a pause of `after` seconds
A 304 carries no body, no Content-Type and no Content-Length (unless headers_304
names them).
"""
import argparse
import email.utils
import hashlib
import json
import os
import select
import signal
import socketserver
import ssl
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

PIECE = 64 * 1024
MAX_LINE = 65536
MAX_HEADERS = 200
MAX_HISTORY = 1000
MAX_CONTROL_BODY = 1024 * 1024


def pattern_block(path):
    """64 ASCII bytes derived from the path; bodies repeat this block."""
    return hashlib.sha256(path.encode()).hexdigest().encode()


def body_pieces(path, size, piece=PIECE):
    """Yield the deterministic body for path in pieces (piece must be a multiple of 64)."""
    block = pattern_block(path) * (piece // 64)
    left = size
    while left > 0:
        n = min(left, piece)
        yield block[:n]
        left -= n


def body_bytes(path, size):
    """The whole deterministic body for path (for small sizes / checks)."""
    block = pattern_block(path)
    return (block * (size // 64 + 1))[:size]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.total = 0
            self.targets = {}
            self.paths = {}
            self.history = {}
            self.scripts = {}

    def record(self, target, last, seq):
        """Count the request; returns its history record (status filled in later)."""
        path = urlsplit(target).path
        rec = {"seq": seq, "time": time.time(), "method": last["method"], "target": target,
               "headers": last["headers"], "status": None, "tls": last.get("tls")}
        with self.lock:
            self.total += 1
            for table, key in ((self.targets, target), (self.paths, path)):
                entry = table.setdefault(key, {"count": 0, "last": None})
                entry["count"] += 1
                entry["last"] = last
            hist = self.history.setdefault(path, [])
            hist.append(rec)
            del hist[:-MAX_HISTORY]
        return rec

    def requests(self, path):
        with self.lock:
            return list(self.history.get(path, []))

    def set_script(self, path, steps):
        with self.lock:
            if steps is None:
                self.scripts.pop(path, None)
            else:
                self.scripts[path] = {"steps": steps, "n": 0}

    def next_step(self, path):
        """The step for this request to path, or None when path has no script."""
        with self.lock:
            script = self.scripts.get(path)
            if script is None:
                return None
            steps = script["steps"]
            step = steps[min(script["n"], len(steps) - 1)]
            script["n"] += 1
            return step

    def snapshot(self, path=None, target=None):
        with self.lock:
            if path is not None:
                return self.paths.get(path, {"count": 0, "last": None})
            if target is not None:
                return self.targets.get(target, {"count": 0, "last": None})
            return {"total": self.total, "targets": self.targets, "paths": self.paths}


class Connections:
    """Counts origin connections that carried a non-control request. Before
    each new one is counted, connections whose peer has already closed them
    are dropped, so a handler still blocked in a read is not counted twice."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = {}  # id(handler) -> socket
        self.max = 0

    @staticmethod
    def peer_closed(sock):
        poller = select.poll()
        try:
            poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def add(self, handler):
        with self.lock:
            for key, sock in list(self.open.items()):
                if self.peer_closed(sock):
                    del self.open[key]
            self.open[id(handler)] = handler.connection
            self.max = max(self.max, len(self.open))

    def remove(self, handler):
        with self.lock:
            self.open.pop(id(handler), None)

    def snapshot(self):
        with self.lock:
            for key, sock in list(self.open.items()):
                if self.peer_closed(sock):
                    del self.open[key]
            return {"open": len(self.open), "max": self.max}

    def reset(self):
        with self.lock:
            self.max = len(self.open)


STATS = Stats()
CONNECTIONS = Connections()
CONTROL_PATHS = ("/__reset", "/__stats", "/__requests", "/__script", "/__connections")
SEQ = [0]
SEQ_LOCK = threading.Lock()
VERBOSE = [False]


def http_date(epoch):
    return email.utils.formatdate(epoch, usegmt=True)


def parse_http_date(value):
    """Unix seconds of an HTTP-date, or None when it does not parse."""
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return dt.timestamp() if dt is not None else None


def split_etags(value):
    """The entity-tags of an If-None-Match / If-Match list (commas inside quotes kept)."""
    tags, cur, quoted = [], "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            tags.append(cur.strip())
            cur = ""
        else:
            cur += ch
    tags.append(cur.strip())
    return [t for t in tags if t]


def weak_match(header, etag):
    """RFC 9110 13.1.2 If-None-Match evaluation with weak comparison."""
    if header.strip() == "*":
        return True
    if etag is None:
        return False
    opaque = lambda t: t[2:] if t.startswith("W/") else t  # noqa: E731
    return any(opaque(t) == opaque(etag) for t in split_etags(header))


def not_modified(method, hget, etag, last_modified):
    """Should a GET/HEAD with these conditionals get 304 (RFC 9110 13.2.2)?"""
    if method not in ("GET", "HEAD"):
        return False
    inm = hget("if-none-match")
    if inm is not None:
        return weak_match(inm, etag)
    ims, lm = hget("if-modified-since"), parse_http_date(last_modified or "")
    if ims is None or lm is None:
        return False
    ims_t = parse_http_date(ims)
    return ims_t is not None and ims_t >= lm


def parse_range(value, size):
    """A single "bytes=" range -> (first, last) | "unsatisfiable" | None (ignore)."""
    if not value or not value.strip().lower().startswith("bytes="):
        return None
    spec = value.strip()[6:].strip()
    if "," in spec:
        return None
    first, sep, last = spec.partition("-")
    try:
        if not sep:
            return None
        if first == "":
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return (max(0, size - n), size - 1)
        a = int(first)
        b = int(last) if last else size - 1
    except ValueError:
        return None
    if last and b < a:
        return None
    if a >= size:
        return "unsatisfiable"
    return (a, min(b, size - 1))


class BadRequest(Exception):
    pass


class Handler(socketserver.StreamRequestHandler):
    timeout = 60  # idle keep-alive connections are closed after this

    def log(self, msg):
        if VERBOSE[0]:
            sys.stderr.write("origin: %s\n" % msg)
            sys.stderr.flush()

    def handle(self):
        try:
            self.tls = self.handshake()
            for _ in range(100000):
                if not self.handle_one():
                    break
        except (ConnectionError, OSError, BadRequest) as e:
            self.log("connection ended: %r" % (e,))
        finally:
            CONNECTIONS.remove(self)

    def handshake(self):
        """Completes a TLS handshake (in this connection's thread, not the
        accept loop); returns what /__requests reports of it, or None."""
        sock = self.connection
        if not isinstance(sock, ssl.SSLSocket):
            return None
        sock.do_handshake()
        peer = sock.getpeercert()
        subject = dict(pair[0] for pair in peer.get("subject", ())) if peer else {}
        return {"sni": getattr(sock, "received_sni", None), "version": sock.version(),
                "client_cert": subject.get("commonName")}

    # -- request parsing -------------------------------------------------
    def readline(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadRequest("line too long")
        return line

    def read_head(self):
        line = self.readline()
        while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
            line = self.readline()
        if not line:
            return None
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3:
            raise BadRequest("bad request line %r" % line)
        headers = []
        for _ in range(MAX_HEADERS + 1):
            h = self.readline()
            if h in (b"\r\n", b"\n"):
                return parts, headers
            if not h:
                raise BadRequest("eof in head")
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep:
                raise BadRequest("bad header %r" % h)
            headers.append([name.strip(), value.strip()])
        raise BadRequest("too many headers")

    def read_body(self, headers, hget, keep=None):
        """Consume the request body; return (length, sha256 hex). With keep (a
        list), the body bytes are appended to it too (control endpoints)."""
        digest = Keeper(keep) if keep is not None else hashlib.sha256()
        length = 0
        te = hget("transfer-encoding", "").lower()
        if "chunked" in te:
            for _ in range(10_000_000):
                size_line = self.readline()
                if not size_line:
                    raise BadRequest("eof in chunked body")
                n = int(size_line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    for _ in range(MAX_HEADERS):  # trailers
                        t = self.readline()
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                length += self.read_exact(n, digest)
                self.readline()  # CRLF after chunk data
        else:
            cl = hget("content-length")
            if cl:
                length = self.read_exact(int(cl), digest)
        return length, digest.hexdigest()

    def read_exact(self, n, digest):
        left = n
        while left > 0:
            data = self.rfile.read(min(left, PIECE))
            if not data:
                raise BadRequest("eof in body")
            digest.update(data)
            left -= len(data)
        return n

    # -- one exchange ----------------------------------------------------
    def handle_one(self):
        head = self.read_head()
        if head is None:
            return False
        (method, target, version), headers = head
        lower = {}
        for name, value in headers:
            key = name.lower()
            lower[key] = lower[key] + ", " + value if key in lower else value
        hget = lower.get
        self.log("%s %s" % (method, target))
        if urlsplit(target).path not in CONTROL_PATHS:
            CONNECTIONS.add(self)

        if "100-continue" in hget("expect", "").lower():
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        url = urlsplit(target)
        path = url.path
        control_body = [] if path == "/__script" else None
        body_len, body_sha = self.read_body(headers, hget, keep=control_body)
        q = parse_qs(url.query, keep_blank_values=True)
        qget = lambda k, d=None: q[k][-1] if k in q else d

        conn_tokens = [t.strip().lower() for t in hget("connection", "").split(",")]
        keep_alive = version == "HTTP/1.1" and "close" not in conn_tokens
        if version == "HTTP/1.0" and "keep-alive" in conn_tokens:
            keep_alive = True

        if path == "/__reset":
            STATS.reset()
            CONNECTIONS.reset()
            return self.send_simple(200, b'{"ok": true}\n', keep_alive)
        if path == "/__connections":
            return self.send_simple(200, json.dumps(CONNECTIONS.snapshot()).encode(), keep_alive)
        if path == "/__stats":
            snap = STATS.snapshot(path=qget("path"), target=qget("target"))
            return self.send_simple(200, json.dumps(snap).encode(), keep_alive)
        if path == "/__requests":
            hist = STATS.requests(qget("path", ""))
            return self.send_simple(200, json.dumps(hist).encode(), keep_alive)
        if path == "/__script":
            if not qget("path"):
                return self.send_simple(400, b'{"error": "path= missing"}\n', keep_alive)
            if method == "DELETE":
                STATS.set_script(qget("path"), None)
                return self.send_simple(200, b'{"ok": true}\n', keep_alive)
            try:
                steps = json.loads(b"".join(control_body) or b"null")
                if not isinstance(steps, list) or not steps or \
                        not all(isinstance(x, dict) for x in steps):
                    raise ValueError("expected a non-empty JSON list of objects")
            except ValueError as e:
                return self.send_simple(400, json.dumps({"error": str(e)}).encode(), keep_alive)
            STATS.set_script(qget("path"), steps)
            return self.send_simple(200, b'{"ok": true}\n', keep_alive)

        info = {"method": method, "target": target, "path": path, "version": version,
                "headers": headers, "body_length": body_len, "body_sha256": body_sha,
                "tls": self.tls}
        with SEQ_LOCK:
            SEQ[0] += 1
            seq = SEQ[0]
        rec = STATS.record(target, info, seq)
        step = STATS.next_step(path)
        if step is not None:
            return self.send_scripted(step, method, path, hget, seq, keep_alive, rec)

        status = int(qget("status", "200"))
        is_echo = path == "/echo" or path.startswith("/echo/")
        if is_echo:
            body = json.dumps(info).encode()
            size = len(body)
        else:
            body = None
            size = int(qget("size", "100"))

        resp = [("Content-Type", "application/json" if is_echo else "application/octet-stream"),
                ("X-Origin-Seq", str(seq)), ("X-Origin-Path", path)]
        if qget("cc") is not None:
            resp.append(("Cache-Control", qget("cc")))
        date = time.time() - float(qget("date_ago", "0"))
        etag = None
        if qget("etag"):
            etag = '"%s"' % hashlib.sha256(target.encode()).hexdigest()[:16]
        if qget("etagv") is not None:
            etag = qget("etagv")
        if etag is not None:
            resp.append(("ETag", etag))
        last_modified = None
        if qget("lm") is not None:
            last_modified = http_date(float(qget("lm")))
        elif qget("lm_ago") is not None:
            last_modified = http_date(date - float(qget("lm_ago")))
        if last_modified is not None:
            resp.append(("Last-Modified", last_modified))
        if qget("expires") is not None:
            resp.append(("Expires", http_date(date + float(qget("expires")))))
        if (etag is not None or last_modified is not None) and \
                not_modified(method, hget, etag, last_modified):
            status = 304
        for h in q.get("hdr", []):
            name, _, value = h.partition(":")
            resp.append((name.strip(), value.strip()))
        if qget("close") == "1":
            keep_alive = False

        range_slice = None
        if qget("ranges") == "1" and status == 200 and not is_echo and hget("range"):
            rng = parse_range(hget("range"), size)
            if rng == "unsatisfiable":
                status, size = 416, 0
                resp.append(("Content-Range", "bytes */%d" % int(qget("size", "100"))))
            elif rng is not None:
                status = 206
                resp.append(("Content-Range", "bytes %d-%d/%d" % (rng[0], rng[1], size)))
                range_slice, size = rng, rng[1] - rng[0] + 1
        rec["status"] = status

        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        chunked = qget("chunked") == "1" and not no_body
        nolength = qget("nolength") == "1" and not no_body
        te = qget("te")
        if te is not None and not no_body:
            codings = [c.strip().lower() for c in te.split(",")]
            chunked = codings[-1] == "chunked"
            nolength = not chunked
            resp.append(("Transfer-Encoding", te))
        elif chunked:
            resp.append(("Transfer-Encoding", "chunked"))
        elif nolength:
            keep_alive = False
        elif status not in (204, 304):
            resp.append(("Content-Length", str(size)))
        if not keep_alive:
            resp.append(("Connection", "close"))

        delay = float(qget("delay", "0"))
        if delay > 0:
            time.sleep(delay)
        head = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
        if qget("nodate") != "1":
            head += "Date: %s\r\n" % http_date(date)
        head += "Server: relay-test-origin\r\n"
        head += "".join("%s: %s\r\n" % kv for kv in resp) + "\r\n"
        self.wfile.write(head.encode("latin-1"))
        if no_body:
            return keep_alive
        if range_slice is not None or status == 416:
            full = body_bytes(path, int(qget("size", "100")))
            self.wfile.write(full[range_slice[0]:range_slice[1] + 1] if range_slice else b"")
            return keep_alive

        body_delay = float(qget("body_delay", "0"))
        if body_delay > 0:
            time.sleep(body_delay)
        drip = float(qget("drip", "0"))
        piece = int(qget("drip_size", "1024")) if drip > 0 else PIECE
        piece = max(64, piece - piece % 64)
        pieces = [body] if is_echo else body_pieces(path, size, piece)
        abort = int(qget("abort", "-1"))
        pause_at, pause = int(qget("pause_at", "-1")), float(qget("pause", "0"))
        sent = 0
        for i, data in enumerate(pieces):
            if i and drip > 0:
                time.sleep(drip)
            if 0 <= pause_at <= sent:
                time.sleep(pause)
                pause_at = -1
            if 0 <= abort < sent + len(data):
                self.wfile.write(data[:abort - sent])
                self.log("aborting after %d body bytes" % abort)
                return False
            sent += len(data)
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        return keep_alive

    def send_scripted(self, step, method, path, hget, seq, keep_alive, rec):
        status = int(step.get("status", 200))
        etag, last_modified = step.get("etag"), step.get("last_modified")
        if status == 200 and (etag or last_modified) and \
                not_modified(method, hget, etag, last_modified):
            status = 304
        if "body" in step:
            body = step["body"].encode("utf-8")
        else:
            body = body_bytes(path, int(step.get("size", 100)))
        extra = [tuple(kv) for kv in (step.get("headers_304", step.get("headers", []))
                                      if status == 304 else step.get("headers", []))]
        names = {k.lower() for k, _ in extra}
        resp = []
        if step.get("ranges") and status == 200 and hget("range"):
            rng = parse_range(hget("range"), len(body))
            if rng == "unsatisfiable":
                resp.append(("Content-Range", "bytes */%d" % len(body)))
                status, body = 416, b""
            elif rng is not None:
                resp.append(("Content-Range", "bytes %d-%d/%d" % (rng[0], rng[1], len(body))))
                status, body = 206, body[rng[0]:rng[1] + 1]
        rec["status"] = status
        if status != 304 and "content-type" not in names:
            resp.append(("Content-Type", "application/octet-stream"))
        resp += [("X-Origin-Seq", str(seq)), ("X-Origin-Path", path)]
        if etag:
            resp.append(("ETag", etag))
        if last_modified:
            resp.append(("Last-Modified", last_modified))
        resp += extra
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if status not in (204, 304) and "content-length" not in names:
            resp.append(("Content-Length", str(len(body))))
        if step.get("close"):
            keep_alive = False
        if not keep_alive:
            resp.append(("Connection", "close"))
        for interim in step.get("interim", []):
            code = int(interim.get("status", 103))
            lines = "".join("%s: %s\r\n" % tuple(kv) for kv in interim.get("headers", []))
            self.wfile.write(("HTTP/1.1 %d %s\r\n%s\r\n" % (code, REASONS.get(code, "Status"), lines))
                             .encode("latin-1"))
            self.wfile.flush()
            if float(interim.get("after", 0)) > 0:
                time.sleep(float(interim["after"]))
        delay = float(step.get("delay", 0))
        if delay > 0:
            time.sleep(delay)
        head = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
        if not step.get("no_date"):
            head += "Date: %s\r\n" % http_date(time.time() + float(step.get("date_offset", 0)))
        head += "Server: relay-test-origin\r\n"
        head += "".join("%s: %s\r\n" % kv for kv in resp) + "\r\n"
        if float(step.get("body_delay", 0)) > 0 and not no_body:
            self.wfile.write(head.encode("latin-1"))
            self.wfile.flush()
            time.sleep(float(step["body_delay"]))
            self.wfile.write(body)
        else:
            self.wfile.write(head.encode("latin-1") + (b"" if no_body else body))
        return keep_alive

    def send_simple(self, status, body, keep_alive):
        head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
            status, REASONS.get(status, "Status"), len(body))
        if not keep_alive:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode() + b"\r\n" + body)
        return keep_alive


class Keeper:
    """A sha256 that also keeps the bytes (bounded), for control request bodies."""

    def __init__(self, sink):
        self.sink, self.digest, self.kept = sink, hashlib.sha256(), 0

    def update(self, data):
        self.digest.update(data)
        if self.kept + len(data) > MAX_CONTROL_BODY:
            raise BadRequest("control body too large")
        self.kept += len(data)
        self.sink.append(data)

    def hexdigest(self):
        return self.digest.hexdigest()


REASONS = {100: "Continue", 102: "Processing", 103: "Early Hints", 200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
           203: "Non-Authoritative Information", 300: "Multiple Choices",
           301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
           307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 410: "Gone",
           414: "URI Too Long", 416: "Range Not Satisfiable", 500: "Internal Server Error",
           501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    tls_context = None  # an ssl.SSLContext: connections are wrapped, handshaken by their handler

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


def tls_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        ctx.load_verify_locations(cafile=args.tls_client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    if args.tls_max_version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2

    def remember_sni(sock, name, _ctx):
        sock.received_sni = name

    ctx.sni_callback = remember_sni
    return ctx


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    ap.add_argument("--tls-key", help="the certificate's PEM private key")
    ap.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    ap.add_argument("--tls-max-version", choices=["1.2", "1.3"], help="highest TLS version offered")
    args = ap.parse_args()
    VERBOSE[0] = args.verbose
    server = Server(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        server.tls_context = tls_context(args)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)  # atomic: readers never see a partial file
    sys.stderr.write("origin: listening on %s://127.0.0.1:%d\n" % ("https" if args.tls_cert else "http", port))
    sys.stderr.flush()

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
