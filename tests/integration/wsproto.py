"""Minimal RFC 6455 for the tests (stdlib only): the opening handshake's
accept key, frame encoding (masked from clients, RFC 6455 §5.3) and
decoding, and a blocking client that speaks it over a socket.

Opcodes: 0x0 continuation, 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong.
"""
import base64
import hashlib
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
MAX_MESSAGE = 8 * 1024 * 1024


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def encode_frame(opcode, payload, mask, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(payload, key):
    # XOR with the 4-byte key, done on big integers to keep 1 MiB fast.
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


class FrameReader:
    """Reads frames from a socket; recv errors and EOF propagate."""

    def __init__(self, sock, buffered=b""):
        self.sock = sock
        self.buf = buffered

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(max(65536, n - len(self.buf)))
            if not data:
                raise ConnectionError("connection closed by peer")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        """(fin, opcode, masked, payload) of the next frame."""
        b0, b1 = self._need(2)
        fin, opcode, masked, n = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        if n > MAX_MESSAGE:
            raise ValueError("frame too large: %d" % n)
        key = self._need(4) if masked else None
        payload = self._need(n)
        return fin, opcode, masked, apply_mask(payload, key) if masked else payload

    def message(self):
        """(opcode, payload) of the next data or control message, continuation frames joined."""
        fin, opcode, masked, payload = self.frame()
        if opcode >= 0x8:
            return opcode, payload, masked
        parts = [payload]
        for _ in range(100000):
            if fin:
                break
            fin, cont, masked, payload = self.frame()
            if cont != CONT:
                raise ValueError("expected a continuation frame, got opcode %d" % cont)
            parts.append(payload)
        return opcode, b"".join(parts), masked


class Client:
    """A WebSocket client on a raw socket: handshake(), send(), recv(), close()."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.port = port
        self.reader = None
        self.status = None
        self.headers = []
        self.body = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def handshake(self, target, protocol="websocket", extra=(), key=None):
        """Sends the opening handshake; returns the status. On 101 frames follow."""
        self.key = key or new_key()
        lines = ["GET %s HTTP/1.1" % target, "Host: 127.0.0.1:%d" % self.port,
                 "Upgrade: %s" % protocol, "Connection: Upgrade",
                 "Sec-WebSocket-Key: %s" % self.key, "Sec-WebSocket-Version: 13"]
        lines += ["%s: %s" % kv for kv in extra]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        buf = b""
        for _ in range(10000):
            if b"\r\n\r\n" in buf:
                break
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed before the handshake answer")
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = [tuple(x.strip() for x in f.split(":", 1)) for f in fields]
        self.reader = FrameReader(self.sock, rest)
        return self.status

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def send(self, opcode, payload, fragments=1):
        """One message, in `fragments` frames."""
        if fragments <= 1:
            self.sock.sendall(encode_frame(opcode, payload, mask=True))
            return
        step = -(-len(payload) // fragments)
        pieces = [payload[i:i + step] for i in range(0, len(payload), step)]
        for i, piece in enumerate(pieces):
            self.sock.sendall(encode_frame(opcode if i == 0 else CONT, piece, mask=True,
                                           fin=i == len(pieces) - 1))

    def recv(self):
        """(opcode, payload, masked) of the next message."""
        return self.reader.message()

    def close_handshake(self, code=1000):
        """Sends a close frame and waits for the peer's, then for EOF."""
        self.sock.sendall(encode_frame(CLOSE, struct.pack("!H", code), mask=True))
        opcode, payload, masked = self.recv()
        eof = self.sock.recv(1) == b""
        return opcode, payload, masked, eof
