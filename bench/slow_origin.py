#!/usr/bin/env python3
"""Slow origin for bench/stampede.sh (Python standard library only).

Every GET waits --delay seconds before sending the response head, then drips
a --size byte body (Content-Length, Cache-Control: max-age=3600, a strong
ETag as static-file servers send) in --chunks equal pieces spread over
--drip seconds. One thread per connection, so a
proxy that does not coalesce gets every request answered in parallel.

It counts the requests it receives per path:
  GET /__count?path=/some/key   -> the number, as text (not counted itself)
  GET /__counts                 -> every path and its count, one per line
Each request is also logged to stdout as "<unix time> <path>".
"""
import argparse
import sys
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

COUNTS = Counter()
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "slow-origin"
    sys_version = ""

    def log_message(self, *args):  # quiet; requests are logged in do_GET
        pass

    def _text(self, text):
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__count":
            path = parse_qs(url.query).get("path", [""])[0]
            with LOCK:
                n = COUNTS.get(path, 0)
            return self._text(f"{n}\n")
        if url.path == "/__counts":
            with LOCK:
                lines = "".join(f"{n} {p}\n" for p, n in sorted(COUNTS.items()))
            return self._text(lines)

        with LOCK:
            COUNTS[self.path] += 1
        print(f"{time.time():.6f} {self.path}", flush=True)

        opts = self.server.opts
        time.sleep(opts.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(opts.size))
        self.send_header("Cache-Control", "max-age=3600")
        self.send_header("ETag", '"%08x-%x"' % (zlib.crc32(url.path.encode()), opts.size))
        self.end_headers()
        self.wfile.flush()
        chunks = max(1, opts.chunks)
        step = opts.size // chunks
        sent = 0
        try:
            for i in range(chunks):
                n = opts.size - sent if i == chunks - 1 else step
                time.sleep(opts.drip / chunks)
                self.wfile.write(b"x" * n)
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024   # listen backlog (socketserver's default is 5)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay", type=float, default=1.0, help="seconds before the response head [1.0]")
    ap.add_argument("--drip", type=float, default=1.0, help="seconds over which the body is sent [1.0]")
    ap.add_argument("--size", type=int, default=100 * 1024, help="body bytes [102400]")
    ap.add_argument("--chunks", type=int, default=10, help="body pieces [10]")
    opts = ap.parse_args()
    srv = Server(("127.0.0.1", opts.port), Handler)
    srv.opts = opts
    print(f"slow origin on 127.0.0.1:{opts.port}: {opts.delay}s to the head, "
          f"{opts.size} bytes over {opts.drip}s in {opts.chunks} pieces", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
