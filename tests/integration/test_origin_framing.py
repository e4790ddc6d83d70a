"""What the origin frames around a response: interim (1xx) responses, which a
proxy forwards (RFC 9110 15.2) but never stores, and transfer codings relay
cannot decode, which get a 502 (like nginx's "upstream sent unknown
Transfer-Encoding")."""
import time

from harness import RelayTestCase, wait_until

LINK = "</style.css>; rel=preload; as=style"


def read_responses(conn, count, method="GET"):
    """The next `count` responses on a RawConn (1xx ones included), in order."""
    return [conn.read_response(method) for _ in range(count)]


class InterimResponseTest(RelayTestCase):
    RELAY_CONFIG = {"upstream": {"first_byte_timeout": "5s"}}

    def hints(self, path, *interim, delay=0.6, cc="max-age=60", body="final"):
        self.script(path, {"interim": list(interim), "delay": delay,
                           "headers": [["Cache-Control", cc]], "body": body})

    def test_103_early_hints_reach_an_http11_client_before_the_final_response(self):
        path = "/i/hints"
        self.hints(path, {"status": 103, "headers": [["Link", LINK]]}, delay=1.0)
        with self.raw() as c:
            c.request("GET", path)
            start = time.monotonic()
            hint = c.read_response()
            hint_after = time.monotonic() - start
            final = c.read_response()
        self.assertEqual(hint.status, 103, hint.raw_head)
        self.assertEqual(hint.header("Link"), LINK)
        self.assertLess(hint_after, 0.8, "the 103 waited for the final response (%.2fs)" % hint_after)
        self.assertEqual(final.status, 200)
        self.assertEqual(final.body, b"final")
        self.assertFalse(final.has("Link"), "the hint's Link leaked into the final response: %r" % final)

    def test_interim_headers_are_never_stored(self):
        path = "/i/stored"
        self.hints(path, {"status": 103, "headers": [["Link", LINK]]})
        with self.raw() as c:
            c.request("GET", path)
            statuses = [r.status for r in read_responses(c, 2)]
        self.assertEqual(statuses, [103, 200])
        with self.raw() as c:
            c.request("GET", path)
            hit = c.read_response()
        self.assertEqual(hit.status, 200, "a hit must not replay the 103: %r" % hit)
        self.assertEqual(hit.header("X-Cache"), "HIT")
        self.assertFalse(hit.has("Link"), "the stored response carries the hint's Link: %r" % hit)
        self.assertEqual(self.origin.count(path), 1)

    def test_several_interim_responses_are_forwarded_in_order(self):
        path = "/i/several"
        self.hints(path, {"status": 102, "after": 0.1},
                   {"status": 103, "headers": [["Link", "</a.js>; rel=preload; as=script"]]},
                   {"status": 103, "headers": [["Link", "</b.css>; rel=preload; as=style"]]},
                   cc="no-store")
        with self.raw() as c:
            c.request("GET", path)
            got = read_responses(c, 4)
        self.assertEqual([r.status for r in got], [102, 103, 103, 200])
        self.assertEqual(got[1].header("Link"), "</a.js>; rel=preload; as=script")
        self.assertEqual(got[2].header("Link"), "</b.css>; rel=preload; as=style")
        self.assertFalse(got[3].has("Link"))

    def test_http10_client_gets_no_interim_response(self):
        # RFC 9110 15.2: a server must not send a 1xx to an HTTP/1.0 client.
        path = "/i/http10"
        self.hints(path, {"status": 103, "headers": [["Link", LINK]]}, cc="no-store")
        with self.raw() as c:
            c.send(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: a\r\n\r\n")
            first = c.read_response()
        self.assertEqual(first.status, 200, first.raw_head)
        self.assertFalse(first.has("Link"))
        self.assertEqual(first.body, b"final")

    def test_followers_of_a_coalesced_fill_see_no_interim_response(self):
        path = "/i/coalesced"
        self.hints(path, {"status": 103, "headers": [["Link", LINK]]}, delay=1.5)
        with self.raw() as writer, self.raw() as follower:
            writer.request("GET", path)
            hint = writer.read_response()
            follower.request("GET", path)
            followed = follower.read_response()
            final = writer.read_response()
        self.assertEqual(hint.status, 103)
        self.assertEqual(final.status, 200)
        self.assertEqual(followed.status, 200, "the follower got %r" % followed)
        self.assertEqual(followed.header("X-Cache"), "COALESCED")
        self.assertFalse(followed.has("Link"))
        self.assertEqual(followed.body, b"final")
        self.assertEqual(self.origin.count(path), 1)

    def test_expect_100_continue_gets_one_100_from_relay_only(self):
        # relay answers Expect itself and does not send Expect upstream; a 100
        # the origin sends anyway is not forwarded (no duplicate), a 103 is.
        path = "/i/expect"
        self.hints(path, {"status": 100}, {"status": 103, "headers": [["Link", LINK]]},
                   delay=0.2, cc="no-store")
        body = b"x" * 1000
        with self.raw() as c:
            c.send(("POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                    "Expect: 100-continue\r\n\r\n" % (path, len(body))).encode())
            cont = c.read_response()
            self.assertEqual(cont.status, 100)
            c.send(body)
            rest = read_responses(c, 2, method="POST")
        self.assertEqual([r.status for r in rest], [103, 200])
        self.assertEqual(self.origin.requests(path)[-1]["method"], "POST")


class UnknownTransferCodingTest(RelayTestCase):
    def access_lines(self, path):
        text = self.relay.stdout_path.read_text(errors="replace")
        return [line for line in text.splitlines() if " " + path in line]

    def check_502(self, path, te):
        target = path + "?te=" + te.replace(" ", "%20") + "&cc=max-age%3D60"
        r = self.get(target)
        self.assertEqual(r.status, 502, "Transfer-Encoding %r gave %r" % (te, r))
        self.assertIn(b"transfer coding", r.body)
        wait_until(lambda: any('" 502 ' in line for line in self.access_lines(path)), 5,
                   what="a 502 in the access log for " + path)
        wait_until(lambda: "transfer coding" in self.relay.stderr_path.read_text(errors="replace")
                   and te in self.relay.stderr_path.read_text(errors="replace"), 5,
                   what="the reason in relay's log")
        # Nothing was stored: the next request goes to the origin again.
        self.assertEqual(self.get(target).status, 502)
        self.assertEqual(self.origin.count(path), 2)

    def test_gzip_then_chunked_is_502(self):
        self.check_502("/te/gzip", "gzip, chunked")

    def test_unknown_coding_is_502(self):
        self.check_502("/te/foo", "foo")

    def test_chunked_alone_is_fine(self):
        r = self.get("/te/chunked?te=chunked&size=3000&cc=max-age%3D60")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), 3000)
