"""A package mirror as relay meets it in the wild: files from a directory,
no Cache-Control, Expires, ETag or Last-Modified, single byte ranges, and
404 for a file until it appears. Files under a directory named "slow" are
sent at about 200 MB/s.

    python3 mirror_origin.py --root DIR --port-file FILE

GET /__count?path=/x answers how many GET/HEAD requests /x has had, and
GET /__host?path=/x the Host header of the last one.
"""
import argparse
import collections
import http.server
import os
import re
import socketserver
import threading
import time

CHUNK = 256 * 1024
SLOW_RATE = 200 * 1024 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mirror"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.serve(body=False)

    def do_GET(self):
        self.serve(body=True)

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self, body):
        path = self.path.split("?", 1)[0]
        if path in ("/__count", "/__host"):
            wanted = self.path.split("path=", 1)[1] if "path=" in self.path else ""
            with self.server.lock:
                answer = str(self.server.counts[wanted]) if path == "/__count" else self.server.hosts.get(wanted, "")
            self.reply(200, answer.encode(), [("Content-Type", "text/plain")])
            return
        with self.server.lock:
            self.server.counts[path] += 1
            self.server.hosts[path] = self.headers.get("Host", "")
        file = os.path.normpath(os.path.join(self.server.root, path.lstrip("/")))
        if not file.startswith(self.server.root) or not os.path.isfile(file):
            self.reply(404, b"not found\n", [("Content-Type", "text/plain")])
            return
        size = os.path.getsize(file)
        first, last, status = 0, size - 1, 200
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match and size > 0:
            first = int(match.group(1))
            last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if first >= size or first > last:
                self.reply(416, headers=[("Content-Range", "bytes */%d" % size)])
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
        self.end_headers()
        if not body:
            return
        slow = "/slow/" in path
        started, sent = time.monotonic(), 0
        with open(file, "rb") as f:
            f.seek(first)
            left = last - first + 1
            while left > 0:
                piece = f.read(min(CHUNK, left))
                if not piece:
                    break
                self.wfile.write(piece)
                left -= len(piece)
                sent += len(piece)
                if slow:
                    ahead = sent / SLOW_RATE - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.root = os.path.realpath(args.root)
    server.counts = collections.Counter()
    server.hosts = {}
    server.lock = threading.Lock()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
