#!/usr/bin/env python3
"""Scriptable HTTP/1.1 origin server for relay's integration tests (stdlib only).

Start:  python3 origin.py --port 0 --port-file F   (listens on 127.0.0.1; the
bound port is written to F once listening). SIGTERM/SIGINT stop it.

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
  etag=1              send ETag; answer a matching If-None-Match with 304
  close=1             send Connection: close and close after the response
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
target (count 0 and last null when never seen). /__reset clears everything.
"""
import argparse
import hashlib
import json
import os
import signal
import socketserver
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

PIECE = 64 * 1024
MAX_LINE = 65536
MAX_HEADERS = 200


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

    def record(self, target, last):
        path = urlsplit(target).path
        with self.lock:
            self.total += 1
            for table, key in ((self.targets, target), (self.paths, path)):
                entry = table.setdefault(key, {"count": 0, "last": None})
                entry["count"] += 1
                entry["last"] = last

    def snapshot(self, path=None, target=None):
        with self.lock:
            if path is not None:
                return self.paths.get(path, {"count": 0, "last": None})
            if target is not None:
                return self.targets.get(target, {"count": 0, "last": None})
            return {"total": self.total, "targets": self.targets, "paths": self.paths}


STATS = Stats()
SEQ = [0]
SEQ_LOCK = threading.Lock()
VERBOSE = [False]


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
            for _ in range(100000):
                if not self.handle_one():
                    break
        except (ConnectionError, OSError, BadRequest) as e:
            self.log("connection ended: %r" % (e,))

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

    def read_body(self, headers, hget):
        """Consume the request body; return (length, sha256 hex)."""
        digest = hashlib.sha256()
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

        if "100-continue" in hget("expect", "").lower():
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body_len, body_sha = self.read_body(headers, hget)

        url = urlsplit(target)
        path = url.path
        q = parse_qs(url.query, keep_blank_values=True)
        qget = lambda k, d=None: q[k][-1] if k in q else d

        conn_tokens = [t.strip().lower() for t in hget("connection", "").split(",")]
        keep_alive = version == "HTTP/1.1" and "close" not in conn_tokens
        if version == "HTTP/1.0" and "keep-alive" in conn_tokens:
            keep_alive = True

        if path == "/__reset":
            STATS.reset()
            return self.send_simple(200, b'{"ok": true}\n', keep_alive)
        if path == "/__stats":
            snap = STATS.snapshot(path=qget("path"), target=qget("target"))
            return self.send_simple(200, json.dumps(snap).encode(), keep_alive)

        info = {"method": method, "target": target, "path": path, "version": version,
                "headers": headers, "body_length": body_len, "body_sha256": body_sha}
        STATS.record(target, info)
        with SEQ_LOCK:
            SEQ[0] += 1
            seq = SEQ[0]

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
        if qget("etag"):
            etag = '"%s"' % hashlib.sha256(target.encode()).hexdigest()[:16]
            resp.append(("ETag", etag))
            if hget("if-none-match") == etag:
                status = 304
        for h in q.get("hdr", []):
            name, _, value = h.partition(":")
            resp.append((name.strip(), value.strip()))
        if qget("close") == "1":
            keep_alive = False

        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        chunked = qget("chunked") == "1" and not no_body
        nolength = qget("nolength") == "1" and not no_body
        if chunked:
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
        head += "Date: %s\r\nServer: relay-test-origin\r\n" % time.strftime(
            "%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
        head += "".join("%s: %s\r\n" % kv for kv in resp) + "\r\n"
        self.wfile.write(head.encode("latin-1"))
        if no_body:
            return keep_alive

        body_delay = float(qget("body_delay", "0"))
        if body_delay > 0:
            time.sleep(body_delay)
        drip = float(qget("drip", "0"))
        piece = int(qget("drip_size", "1024")) if drip > 0 else PIECE
        piece = max(64, piece - piece % 64)
        pieces = [body] if is_echo else body_pieces(path, size, piece)
        abort = int(qget("abort", "-1"))
        sent = 0
        for i, data in enumerate(pieces):
            if i and drip > 0:
                time.sleep(drip)
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

    def send_simple(self, status, body, keep_alive):
        head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
            status, REASONS.get(status, "Status"), len(body))
        if not keep_alive:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode() + b"\r\n" + body)
        return keep_alive


REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
           301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 410: "Gone", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args()
    VERBOSE[0] = args.verbose
    server = Server(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)  # atomic: readers never see a partial file
    sys.stderr.write("origin: listening on 127.0.0.1:%d\n" % port)
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
