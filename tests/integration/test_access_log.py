"""The access log under hostile input: requests refused by the HTTP/1 session
(400, 408, 414, 431) have their line; JSON lines carry host, referer and a
millisecond time and parse as JSON whatever bytes the client sent; a text
line's quoted fields cannot be forged with '"'."""
import json
import re
import unittest

from harness import HOST, RawConn, RelayTestCase, tail, wait_until

LIMITS = {"max_url_length": 1024, "max_header_size": "4KiB", "header_timeout": "1s"}


def log_lines(path, errors="strict"):
    """The access log's lines as text; by default the file must be valid UTF-8."""
    if not path.exists():
        return []
    return [l for l in path.read_bytes().decode("utf-8", errors).splitlines() if l.strip()]


def send_raw(port, data, timeout=5.0):
    """Send bytes, read until the server closes; returns the status code (0 if none)."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        try:
            line = c.readline()
        except (ConnectionError, OSError, ValueError):
            return 0
    m = re.match(rb"HTTP/1\.1 (\d{3})", line)
    return int(m.group(1)) if m else 0


class JsonAccessLogTest(RelayTestCase):
    @classmethod
    def relay_config(cls):
        cls.log_path = cls.workdir / "access.json.log"
        return {"server": LIMITS, "log": {"format": "json", "access_log": str(cls.log_path)}}

    def entries(self):
        out = []
        for line in log_lines(self.log_path):
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError("access log line is not JSON: %r" % line)
        return out

    def entry_with(self, pred, what):
        return wait_until(lambda: next((e for e in self.entries() if pred(e)), None), 5,
                          what="%s in %s:\n%s" % (what, self.log_path, tail(self.log_path)))

    def test_host_referer_and_millisecond_time(self):
        r = self.get("/jl/fields?size=10", headers={"Host": "www.example.test", "Referer": "http://ref.test/p",
                                                    "X-Request-ID": "jl-fields"})
        self.assertEqual(r.status, 200)
        e = self.entry_with(lambda e: e.get("request_id") == "jl-fields", "the jl-fields line")
        self.assertEqual(e["host"], "www.example.test")
        self.assertEqual(e["referer"], "http://ref.test/p")
        self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_malformed_request_is_logged_400(self):
        status = send_raw(self.port, b"GET /jl/bad HTTP/1.1\r\nHost: h\r\nUser-Agent: jl-400\r\nno colon here\r\n\r\n")
        self.assertEqual(status, 400)
        e = self.entry_with(lambda e: e["status"] == 400 and e.get("user_agent") == "jl-400", "a 400 line")
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["path"], "/jl/bad")
        self.assertEqual(e["client"], HOST)
        self.assertGreater(e["bytes"], 0)

    def test_garbage_is_logged_400_without_method(self):
        status = send_raw(self.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")  # TLS to a clear port
        self.assertEqual(status, 400)
        e = self.entry_with(lambda e: e["status"] == 400 and e["method"] is None, "a 400 line with no method")
        self.assertIsNone(e["path"])
        self.assertEqual(e["client"], HOST)

    def test_long_url_is_logged_414(self):
        target = "/jl/long?" + "a" * 2000
        self.assertEqual(send_raw(self.port, ("GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % target).encode()), 414)
        e = self.entry_with(lambda e: e["status"] == 414, "a 414 line")
        self.assertEqual(e["method"], "GET")
        self.assertTrue(e["path"].startswith("/jl/long?aaa"), e["path"])
        self.assertLessEqual(len(e["path"]), 1024)

    def test_large_headers_are_logged_431(self):
        head = "GET /jl/big HTTP/1.1\r\nHost: h\r\nUser-Agent: jl-431\r\nX-Big: %s\r\n\r\n" % ("b" * 5000)
        self.assertEqual(send_raw(self.port, head.encode()), 431)
        e = self.entry_with(lambda e: e["status"] == 431, "a 431 line")
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["path"], "/jl/big")
        self.assertEqual(e["user_agent"], "jl-431")

    def test_header_timeout_is_logged_408(self):
        with RawConn(self.port, timeout=5) as c:
            c.send(b"GET /jl/slow HTTP/1.1\r\nHost: h\r\n")  # the head never ends
            wait_until(lambda: self.relay.alive() and not c.sock.recv(4096), 5, what="the connection to close")
        e = self.entry_with(lambda e: e["status"] == 408, "a 408 line")
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["path"], "/jl/slow")
        self.assertGreater(e["bytes"], 0)  # the 408 problem body
        self.assertGreaterEqual(e["duration"], 0.9)

    def test_every_line_parses_whatever_the_bytes(self):
        ua = b'jl-bytes \xff\xfe "quoted" back\\slash \xc3\xa9 \xed\xa0\x80 \xf0\x9f\x98\x80 \tend'
        head = (b"GET /jl/bytes?size=10 HTTP/1.1\r\nHost: h\r\nReferer: r\xe9f\r\nUser-Agent: " + ua +
                b"\r\nConnection: close\r\n\r\n")
        self.assertEqual(send_raw(self.port, head), 200)
        e = self.entry_with(lambda e: e.get("user_agent", "").startswith("jl-bytes"), "the jl-bytes line")
        # Invalid UTF-8 bytes (a lone \xff, \xfe, \xe9, an encoded surrogate) become U+FFFD, one per
        # byte; valid sequences (é, an emoji) are kept; quotes, backslashes and controls are escaped.
        self.assertEqual(e["user_agent"],
                         'jl-bytes \ufffd\ufffd "quoted" back\\slash \u00e9 \ufffd\ufffd\ufffd \U0001F600 \tend')
        self.assertEqual(e["referer"], "r\ufffdf")
        self.entries()  # every line, not only this one, is JSON (raises otherwise)


class TextAccessLogTest(RelayTestCase):
    # A combined-format line: client - - [time] "request" status bytes "referer" "user agent" ...
    LINE = re.compile(r'^(\S+) - - \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+) '
                      r'"((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" cache=\S+ time=\S+ upstream=\S+ id=(\S+)$')

    @classmethod
    def relay_config(cls):
        cls.log_path = cls.workdir / "access.log"
        return {"server": LIMITS, "log": {"format": "text", "access_log": str(cls.log_path)}}

    def line_with(self, needle):
        return wait_until(lambda: next((l for l in log_lines(self.log_path, "replace") if needle in l), None), 5,
                          what="%r in %s:\n%s" % (needle, self.log_path, tail(self.log_path)))

    def test_quotes_in_user_agent_cannot_forge_fields(self):
        ua = 'tl-forge" 200 99999 "http://forged.test" "forged-agent'
        r = self.get("/tl/forge?size=10", headers={"User-Agent": ua, "Referer": 'a"b\\c\td'})
        self.assertEqual(r.status, 200)
        line = self.line_with("tl-forge")
        m = self.LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(3), "GET /tl/forge?size=10 HTTP/1.1")
        self.assertEqual(m.group(4), "200")
        self.assertEqual(m.group(6), 'a\\x22b\\x5Cc\\x09d')
        self.assertEqual(m.group(7), 'tl-forge\\x22 200 99999 \\x22http://forged.test\\x22 \\x22forged-agent')
        self.assertEqual(line.count('"'), 6, "exactly three quoted fields")

    def test_non_ascii_bytes_are_escaped(self):
        head = b"GET /tl/bytes?size=10 HTTP/1.1\r\nHost: h\r\nUser-Agent: tl-bytes \xff\xc3\xa9\r\nConnection: close\r\n\r\n"
        self.assertEqual(send_raw(self.port, head), 200)
        line = self.line_with("tl-bytes")
        self.assertTrue(self.LINE.match(line), line)
        self.assertIn('"tl-bytes \\xFF\\xC3\\xA9"', line)

    def test_refused_request_has_a_line(self):
        self.assertEqual(send_raw(self.port, b"\x16\x03\x01\x00\r\n\r\n"), 400)
        line = wait_until(lambda: next((l for l in log_lines(self.log_path, "replace") if '"-" 400 ' in l), None), 5,
                          what="a 400 line in %s:\n%s" % (self.log_path, tail(self.log_path)))
        self.assertTrue(self.LINE.match(line), line)
        self.assertTrue(line.startswith(HOST + " "), line)


if __name__ == "__main__":
    unittest.main()
