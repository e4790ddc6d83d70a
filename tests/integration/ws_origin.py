#!/usr/bin/env python3
"""WebSocket origin for relay's integration tests (stdlib only, RFC 6455).

Start:  python3 ws_origin.py --port 0 --port-file F   (127.0.0.1; the bound
port is written to F once listening). SIGTERM stops it.

  GET /ws/...     with Upgrade: websocket -> 101, then echoes every text and
                  binary message (fragmented ones reassembled, sent back as
                  one frame), answers ping with pong and close with close,
                  then closes the connection. Without Upgrade: 426.
  /ws/greet/...   as /ws, but sends the text "hello" in the same write as the 101.
  /refuse/...     403 with a short body (Content-Length)
  /refuse-chunked 403 with a chunked body
  /other-proto    101 naming another protocol ("h2c")
  /__last         JSON: the last request's method, target and headers (as
                  received), control requests aside
  /__conns        JSON: {"upgraded": N, "open": N} tunnels accepted so far and still open
Any other path: 200 with a JSON echo of the request head (like /__last).
Frames from a client must be masked (§5.1); an unmasked one closes with 1002.
With --tls-cert/--tls-key every connection is TLS (an https:// origin).
"""
import argparse
import json
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsproto  # noqa: E402

STATE = {"last": None, "upgraded": 0, "open": 0}
TLS = None  # an ssl.SSLContext with --tls-cert
LOCK = threading.Lock()


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.settimeout(120)
        self.buf = b""
        if TLS is not None:
            self.request = TLS.wrap_socket(self.request, server_side=True)

    def read_head(self):
        for _ in range(10000):
            if b"\r\n\r\n" in self.buf:
                head, _, self.buf = self.buf.partition(b"\r\n\r\n")
                return head.decode("latin-1")
            data = self.request.recv(65536)
            if not data:
                return None
            self.buf += data
        return None

    def answer(self, status, reason, body, headers=(), chunked=False):
        lines = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % kv for kv in headers]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        else:
            lines.append("Content-Length: %d" % len(body))
            payload = body
        self.request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

    def handle(self):
        for _ in range(1000):  # requests on this connection
            head = self.read_head()
            if head is None:
                return
            request_line, *fields = head.split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = [[x.strip() for x in f.split(":", 1)] for f in fields if ":" in f]
            get = lambda n: next((v for k, v in headers if k.lower() == n), None)  # noqa: E731
            info = {"method": method, "target": target, "headers": headers}
            if target == "/__last":
                self.answer(200, "OK", json.dumps(STATE["last"]).encode(), [("Content-Type", "application/json")])
                continue
            if target == "/__conns":
                with LOCK:
                    body = json.dumps({"upgraded": STATE["upgraded"], "open": STATE["open"]}).encode()
                self.answer(200, "OK", body, [("Content-Type", "application/json")])
                continue
            STATE["last"] = info
            wants_ws = (get("upgrade") or "").lower() == "websocket"
            if target.startswith("/refuse-chunked"):
                self.answer(403, "Forbidden", b"no websocket for you (chunked)", [("X-Refused", "1")], chunked=True)
            elif target.startswith("/refuse"):
                self.answer(403, "Forbidden", b"no websocket for you", [("X-Refused", "1")])
            elif target.startswith("/other-proto") and wants_ws:
                self.request.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
                return
            elif target.startswith("/ws/"):
                if not wants_ws:
                    self.answer(426, "Upgrade Required", b"websocket only", [("Upgrade", "websocket")])
                    continue
                self.tunnel(get("sec-websocket-key") or "", target.startswith("/ws/greet/"))
                return
            else:
                self.answer(200, "OK", json.dumps(info).encode(), [("Content-Type", "application/json")])

    def tunnel(self, key, greet):
        reply = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n" % wsproto.accept_key(key)).encode()
        if greet:
            reply += wsproto.encode_frame(wsproto.TEXT, b"hello", mask=False)
        with LOCK:
            STATE["upgraded"] += 1
            STATE["open"] += 1
        try:
            self.request.sendall(reply)
            reader = wsproto.FrameReader(self.request, self.buf)
            for _ in range(100000):
                opcode, payload, masked = reader.message()
                if not masked:
                    self.request.sendall(wsproto.encode_frame(wsproto.CLOSE, struct.pack("!H", 1002), mask=False))
                    return
                if opcode == wsproto.CLOSE:
                    self.request.sendall(wsproto.encode_frame(wsproto.CLOSE, payload[:2], mask=False))
                    return
                if opcode == wsproto.PING:
                    self.request.sendall(wsproto.encode_frame(wsproto.PONG, payload, mask=False))
                    continue
                self.request.sendall(wsproto.encode_frame(opcode, payload, mask=False))
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            with LOCK:
                STATE["open"] -= 1
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    if args.tls_cert:
        global TLS
        TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        TLS.load_cert_chain(args.tls_cert, args.tls_key)
    server = Server(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
