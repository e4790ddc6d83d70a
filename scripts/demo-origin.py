#!/usr/bin/env python3
"""The quick start's origin: a small web server for relay to cache (Python
standard library only; scripts/run.sh starts it when no origin is configured).

  python3 scripts/demo-origin.py [--port N] [--port-file FILE]

GET / (and HEAD /) answers a page with `Cache-Control: public, max-age=60`,
an ETag and a Last-Modified, so relay stores it for a minute and then
revalidates it (If-None-Match -> 304). The page and its ETag stay the same
while the process runs; the header X-Demo-Origin-Requests counts the requests
that reached this origin, and each one is logged to stderr, so a HIT is
visible by its absence. Every other path is 404 (not cacheable).

Listens on 127.0.0.1 only; --port 0 (the default) takes a free port, written
to --port-file once listening. SIGINT and SIGTERM stop it.
"""
import argparse
import email.utils
import hashlib
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
PAGE = ("""<!doctype html>
<html><head><meta charset="utf-8"><title>relay demo origin</title></head>
<body>
<h1>Hello from relay's demo origin</h1>
<p>This page was made at %s and may be cached for 60 seconds
(<code>Cache-Control: public, max-age=60</code>).</p>
<p>Ask relay for it twice with <code>curl -i</code>: the first answer has
<code>X-Cache: MISS</code> (relay fetched it from here), the second
<code>X-Cache: HIT</code> and an <code>Age</code> (relay answered from its cache;
this origin did not see the request). After a minute relay revalidates it with
<code>If-None-Match</code> and this origin answers 304.</p>
</body></html>
""" % time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(STARTED))).encode()
ETAG = '"%s"' % hashlib.sha256(PAGE).hexdigest()[:16]
LAST_MODIFIED = email.utils.formatdate(STARTED, usegmt=True)

_count_lock = threading.Lock()
_count = 0


class Handler(BaseHTTPRequestHandler):
    server_version = "relay-demo-origin"
    protocol_version = "HTTP/1.1"

    def _count(self):
        global _count
        with _count_lock:
            _count += 1
            return _count

    def _answer(self, with_body):
        n = self._count()
        if self.path != "/":
            body = b"not found: only / is served here\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)
            return
        matches = ETAG in [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]
        self.send_response(304 if matches else 200)
        self.send_header("Cache-Control", "public, max-age=60")
        self.send_header("ETag", ETAG)
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.send_header("X-Demo-Origin-Requests", str(n))
        if matches:
            self.end_headers()
            return
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        if with_body:
            self.wfile.write(PAGE)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._answer(True)

    def do_HEAD(self):  # noqa: N802
        self._answer(False)

    def log_message(self, fmt, *args):
        sys.stderr.write("demo origin: %s\n" % (fmt % args))


def main():
    ap = argparse.ArgumentParser(description="relay's quick-start demo origin")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free one)")
    ap.add_argument("--port-file", help="write the port here once listening")
    args = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def stop(signo, _frame):
        # shutdown() waits for serve_forever(), which runs on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()
    # Set both explicitly: a shell's background job starts with SIGINT ignored.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stderr.write("demo origin: serving http://127.0.0.1:%d/\n" % port)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
