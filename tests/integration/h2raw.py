"""A raw HTTP/2 client for the integration tests (stdlib only): frames built
by hand with struct, so a test can send what no well-behaved client would
(a burst of HEADERS + RST_STREAM, an endless CONTINUATION chain, a window
that never opens). Header blocks are encoded as HPACK literals without
indexing (RFC 7541 §6.2.2), plain strings, no Huffman: trivial and valid.
Responses are not HPACK-decoded beyond the :status of the static table
(200, 204, 206, 304, 400, 404, 500); tests read DATA payloads, frame types
and error codes instead. 127.0.0.1 only; every read is bounded."""
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 7, 8, 11

SETTINGS_INITIAL_WINDOW_SIZE = 4
SETTINGS_MAX_CONCURRENT_STREAMS = 3

# RFC 7541 Appendix A: the static table's :status entries.
STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(text):
    data = text.encode("latin-1") if isinstance(text, str) else text
    return hpack_int(len(data), 7) + data


def literal(name, value):
    """One field as a literal without indexing, new name (RFC 7541 §6.2.2)."""
    return b"\x00" + hpack_string(name) + hpack_string(value)


def header_block(fields):
    return b"".join(literal(n, v) for n, v in fields)


def request_fields(port, path, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", "127.0.0.1:%d" % port),
            (":path", path)] + list(extra)


class Frame:
    def __init__(self, type_, flags, stream, payload):
        self.type, self.flags, self.stream, self.payload = type_, flags, stream, payload

    def error_code(self):
        """RST_STREAM's or GOAWAY's error code."""
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    def status(self):
        """:status of a HEADERS frame when it is the static table's (else None)."""
        if self.type != HEADERS or not self.payload:
            return None
        return STATIC_STATUS.get(self.payload[0] & 0x7F) if self.payload[0] & 0x80 else None

    def __repr__(self):
        return "<Frame type=%d flags=%#x stream=%d len=%d>" % (self.type, self.flags, self.stream,
                                                              len(self.payload))


class H2Conn:
    """One HTTP/2 connection with prior knowledge."""

    def __init__(self, port, timeout=10.0, settings=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.port = port
        self.buf = b""
        self.eof = False
        self.send(PREFACE + self.frame(SETTINGS, 0, 0, self.settings_payload(settings or {})))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def settings_payload(settings):
        return b"".join(struct.pack(">HI", k, v) for k, v in settings.items())

    @staticmethod
    def frame(type_, flags, stream, payload=b""):
        return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", type_, flags, stream & 0x7FFFFFFF) + payload

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, type_, flags, stream, payload=b""):
        self.send(self.frame(type_, flags, stream, payload))

    def headers(self, stream, fields, end_stream=True):
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        return self.frame(HEADERS, flags, stream, header_block(fields))

    def request(self, stream, path, method="GET", extra=(), end_stream=True):
        self.send(self.headers(stream, request_fields(self.port, path, method, extra), end_stream))

    def rst(self, stream, code=CANCEL):
        return self.frame(RST_STREAM, 0, stream, struct.pack(">I", code))

    def window_update(self, stream, increment):
        self.send_frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))

    def read_frame(self, timeout=None):
        """The next frame, or None at EOF (or a reset connection)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.sock.gettimeout())
        while len(self.buf) < 9 or len(self.buf) < 9 + struct.unpack(">I", b"\x00" + self.buf[:3])[0]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete frame within the timeout")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk
        length = struct.unpack(">I", b"\x00" + self.buf[:3])[0]
        type_, flags, stream = struct.unpack(">BBI", self.buf[3:9])
        payload = self.buf[9:9 + length]
        self.buf = self.buf[9 + length:]
        frame = Frame(type_, flags, stream & 0x7FFFFFFF, payload)
        try:
            if type_ == SETTINGS and not flags & ACK:
                self.send_frame(SETTINGS, ACK, 0)
            elif type_ == PING and not flags & ACK:
                self.send_frame(PING, ACK, 0, payload)
        except OSError:
            pass  # the peer is closing: the frame still counts
        return frame

    def frames_until(self, pred, timeout=10.0):
        """Frames read until pred(frame) is true (that frame included) or EOF;
        (frames, matched frame or None)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            if frame is None:
                return seen, None
            seen.append(frame)
            if pred(frame):
                return seen, frame

    def response(self, stream, timeout=10.0, window_updates=True):
        """(status or None, body bytes, the frames of that stream) once the
        stream ends; acknowledges DATA so that any size flows."""
        status, body, frames = None, b"", []
        deadline = time.monotonic() + timeout
        while True:
            frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            if frame is None:
                raise ConnectionError("connection closed before stream %d ended" % stream)
            if frame.stream != stream:
                continue
            frames.append(frame)
            if frame.type == HEADERS and status is None:
                status = frame.status()
            elif frame.type == DATA:
                body += frame.payload
                if window_updates and frame.payload:
                    self.window_update(0, len(frame.payload))
                    self.window_update(stream, len(frame.payload))
            elif frame.type == RST_STREAM:
                return status, body, frames
            if frame.flags & END_STREAM and frame.type in (HEADERS, DATA):
                return status, body, frames

    def closed_by_peer(self, timeout=5.0):
        """True when the peer closes within timeout (frames before that are read and dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.read_frame(max(0.01, deadline - time.monotonic())) is None:
                    return True
            except TimeoutError:
                return False
        return False
