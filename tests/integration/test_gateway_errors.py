"""relay's own answers as RFC 9457 problems (application/problem+json, or
text/plain when Accept prefers it) with the request id on every one, 400s
from the connection layer included; server.max_body_size (413 before any
100 Continue, a chunked body cut at the limit, the origin never given a cut
body as complete); extension methods (BAN, PROPFIND, ...) forwarded."""
import json
import time
import unittest

from harness import RelayTestCase, free_port, wait_until

PROBLEM = "application/problem+json"
TYPE_PREFIX = "https://relay.dev/problems/"


def send_raw(port_conn, data, method="GET"):
    """Send bytes on a RawConn and read one response."""
    port_conn.send(data)
    return port_conn.read_response(method=method)


class ProblemAssertions:
    def assertProblem(self, resp, status, slug, request_id=None):
        """A problem+json answer: its fields, and the request id in header and body."""
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.header("Content-Type"), PROBLEM, resp)
        self.assertEqual(resp.header("Cache-Control"), "no-store")
        body = json.loads(resp.body)
        self.assertEqual(body["type"], TYPE_PREFIX + slug, body)
        self.assertEqual(body["status"], status)
        self.assertEqual(body["title"], resp.reason, body)
        self.assertIsInstance(body["detail"], str)
        self.assertGreater(len(body["detail"]), 0)
        rid = resp.header("X-Request-ID")
        self.assertTrue(rid, "X-Request-ID missing on a %d" % status)
        self.assertEqual(body["request_id"], rid)
        if request_id is not None:
            self.assertEqual(rid, request_id)
        return body

    def assertTextProblem(self, resp, status, request_id):
        self.assertEqual(resp.status, status)
        self.assertEqual(resp.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(resp.header("X-Request-ID"), request_id)
        lines = resp.body.decode().splitlines()
        self.assertEqual(lines[0], "%d %s" % (status, resp.reason))
        self.assertEqual(lines[-1], "request id: " + request_id)


class ConnectionLayerProblemTest(ProblemAssertions, RelayTestCase):
    """400, 408, 414, 431: answered before the handler runs."""
    RELAY_CONFIG = {
        "server": {"max_header_size": "4KiB", "max_url_length": 1024, "header_timeout": "1s"},
    }

    def refuse(self, data):
        with self.raw(timeout=5) as c:
            r = send_raw(c, data)
            self.assertTrue(c.closed_by_peer(3.0), "a refused request closes the connection")
            return r

    def test_garbage_request_line_is_a_400_problem_with_a_request_id(self):
        body = self.assertProblem(self.refuse(b"GARBAGE\r\n\r\n"), 400, "malformed-request")
        self.assertIn("malformed request", body["detail"])

    def test_bad_header_line_echoes_the_clients_request_id(self):
        r = self.refuse(b"GET /ge/x HTTP/1.1\r\nHost: a\r\nX-Request-ID: ge-400-id\r\nno colon\r\n\r\n")
        self.assertProblem(r, 400, "malformed-request", request_id="ge-400-id")

    def test_invalid_method_token_is_a_400_problem(self):
        for line in (b"B@N /ge/m HTTP/1.1", b"GE(T /ge/m HTTP/1.1", b"BAN\x01 /ge/m HTTP/1.1"):
            r = self.refuse(line + b"\r\nHost: a\r\n\r\n")
            self.assertProblem(r, 400, "malformed-request")
        self.assertEqual(self.origin.count("/ge/m"), 0)

    def test_overlong_method_is_501(self):
        r = self.refuse(b"X" * 100 + b" /ge/long-method HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertProblem(r, 501, "method-not-implemented")
        self.assertEqual(self.origin.count("/ge/long-method"), 0)

    def test_long_target_is_a_414_problem(self):
        r = self.refuse(b"GET /ge/" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertProblem(r, 414, "uri-too-long")

    def test_large_header_section_is_a_431_problem_echoing_the_id(self):
        r = self.refuse(b"GET /ge/big HTTP/1.1\r\nHost: a\r\nX-Request-ID: ge-431\r\nX-Big: "
                        + b"b" * 8000 + b"\r\n\r\n")
        self.assertProblem(r, 431, "header-fields-too-large", request_id="ge-431")
        self.assertEqual(self.origin.count("/ge/big"), 0)

    def test_text_plain_when_accept_prefers_it(self):
        r = self.refuse(b"GET /ge/big HTTP/1.1\r\nHost: a\r\nAccept: text/plain, application/json;q=0.5\r\n"
                        b"X-Request-ID: ge-text\r\nX-Big: " + b"b" * 8000 + b"\r\n\r\n")
        self.assertTextProblem(r, 431, "ge-text")

    def test_head_timeout_is_a_408_problem(self):
        with self.raw(timeout=5) as c:
            c.send(b"GET /ge/slow HTTP/1.1\r\nHost: a\r\nX-Request-ID: ge-408\r\n")
            r = c.read_response()
            self.assertTrue(c.closed_by_peer(3.0))
        self.assertProblem(r, 408, "request-timeout", request_id="ge-408")

    def test_bad_host_refused_by_the_request_path_is_a_400_problem(self):
        with self.raw(timeout=5) as c:
            r = send_raw(c, b"GET /ge/host HTTP/1.1\r\nHost: user@a\r\nX-Request-ID: ge-host\r\n\r\n")
        self.assertProblem(r, 400, "malformed-request", request_id="ge-host")
        self.assertEqual(self.origin.count("/ge/host"), 0)


class OriginProblemTest(ProblemAssertions, RelayTestCase):
    RELAY_CONFIG = {"upstream": {"first_byte_timeout": "1s"}}

    def test_slow_origin_is_a_504_problem(self):
        r = self.get("/ge/slow?delay=3", headers={"X-Request-ID": "ge-504"})
        body = self.assertProblem(r, 504, "upstream-timeout", request_id="ge-504")
        self.assertIn("origin", body["detail"])
        self.assertEqual(r.header("X-Cache"), "MISS")

    def test_slow_origin_504_as_text(self):
        r = self.get("/ge/slow-text?delay=3", headers={"X-Request-ID": "ge-504t", "Accept": "text/plain"})
        self.assertTextProblem(r, 504, "ge-504t")

    def test_head_gets_the_problem_head_only(self):
        with self.raw(timeout=10) as c:
            c.request("HEAD", "/ge/head?delay=3", headers={"X-Request-ID": "ge-head"})
            r = c.read_response(method="HEAD")
            self.assertEqual(r.status, 504)
            self.assertEqual(r.header("Content-Type"), PROBLEM)
            self.assertEqual(r.header("X-Request-ID"), "ge-head")
            # No body bytes follow: the next response on the connection parses.
            c.request("GET", "/ge/after-head?size=7")
            after = c.read_response()
        self.assertEqual(after.status, 200)
        self.assertEqual(len(after.body), 7)

    def test_only_if_cached_miss_is_a_504_problem(self):
        r = self.get("/ge/oic", headers={"Cache-Control": "only-if-cached"})
        self.assertProblem(r, 504, "not-cached")
        self.assertEqual(self.origin.count("/ge/oic"), 0)

    def test_client_request_id_is_kept_on_success_too(self):
        r = self.get("/ge/ok?size=3", headers={"X-Request-ID": "ge-ok"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Request-ID"), "ge-ok")


class DeadOriginProblemTest(ProblemAssertions, RelayTestCase):
    @classmethod
    def relay_config(cls):
        return {"upstream": {"url": "http://127.0.0.1:%d" % free_port(), "connect_timeout": "2s"}}

    def test_dead_origin_is_a_502_problem(self):
        r = self.get("/ge/dead", headers={"X-Request-ID": "ge-502"})
        body = self.assertProblem(r, 502, "upstream-connect", request_id="ge-502")
        self.assertEqual(body["detail"], "origin unreachable")

    def test_dead_origin_502_as_text(self):
        r = self.get("/ge/dead", headers={"Accept": "text/plain", "X-Request-ID": "ge-502t"})
        self.assertTextProblem(r, 502, "ge-502t")

    def test_generated_request_id_matches_header_and_body(self):
        a = self.assertProblem(self.get("/ge/dead-a"), 502, "upstream-connect")
        b = self.assertProblem(self.get("/ge/dead-b"), 502, "upstream-connect")
        self.assertNotEqual(a["request_id"], b["request_id"])


class BodyLimitTest(ProblemAssertions, RelayTestCase):
    RELAY_CONFIG = {"server": {"max_body_size": "1KiB"}}

    def test_huge_content_length_gets_413_before_100_continue(self):
        with self.raw(timeout=5) as c:
            c.request("POST", "/echo/ge-5g", headers={"Content-Length": str(5 * 1024 ** 3),
                                                      "Expect": "100-continue",
                                                      "X-Request-ID": "ge-413"})
            first = c.read_response()
            self.assertTrue(c.closed_by_peer(3.0), "the connection closes after the 413")
        self.assertEqual(first.status, 413, "the first answer must be the 413, not 100 Continue")
        body = self.assertProblem(first, 413, "content-too-large", request_id="ge-413")
        self.assertIn(str(5 * 1024 ** 3), body["detail"])
        self.assertEqual(self.origin.count("/echo/ge-5g"), 0)

    def test_oversized_body_sent_at_once_still_gets_its_413(self):
        with self.raw(timeout=5) as c:
            c.send(b"POST /echo/ge-30k HTTP/1.1\r\nHost: a\r\nContent-Length: 30000\r\n\r\n" + b"x" * 30000)
            r = c.read_response()
        self.assertProblem(r, 413, "content-too-large")
        self.assertEqual(self.origin.count("/echo/ge-30k"), 0)

    def test_body_at_the_limit_passes(self):
        r = self.request("POST", "/echo/ge-1k", body=b"y" * 1024)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body_length"], 1024)

    def test_chunked_body_under_the_limit_passes(self):
        with self.raw(timeout=5) as c:
            c.send(b"POST /echo/ge-chunk-ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"200\r\n" + b"a" * 512 + b"\r\n200\r\n" + b"b" * 512 + b"\r\n0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body_length"], 1024)

    def test_chunked_body_growing_past_the_limit_is_cut_with_413(self):
        with self.raw(timeout=5) as c:
            c.send(b"POST /echo/ge-chunk-big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                   b"X-Request-ID: ge-chunk\r\n\r\n" + b"400\r\n" + b"a" * 1024 + b"\r\n")
            time.sleep(0.3)  # the first KiB is within the limit and goes on towards the origin
            c.send(b"10\r\n" + b"b" * 16 + b"\r\n0\r\n\r\n")
            r = c.read_response()
            self.assertTrue(c.closed_by_peer(3.0))
        self.assertProblem(r, 413, "content-too-large", request_id="ge-chunk")
        # The origin never took a cut body for a complete request.
        time.sleep(0.3)
        self.assertEqual(self.origin.count("/echo/ge-chunk-big"), 0)

    def test_limit_is_counted_and_relay_keeps_serving(self):
        with self.raw(timeout=5) as c:
            c.request("PUT", "/echo/ge-count", headers={"Content-Length": "5000", "Expect": "100-continue"})
            self.assertEqual(c.read_response().status, 413)
        self.assertEqual(self.get("/ge/after-413?size=5").status, 200)


class BodyLimitFromEnvTest(ProblemAssertions, RelayTestCase):
    RELAY_ENV = {"RELAY_SERVER_MAX_BODY_SIZE": "100"}

    def test_env_sets_the_limit(self):
        self.assertProblem(self.request("POST", "/echo/ge-env", body=b"z" * 101), 413, "content-too-large")
        self.assertEqual(self.request("POST", "/echo/ge-env-ok", body=b"z" * 100).status, 200)


class ExtensionMethodTest(ProblemAssertions, RelayTestCase):
    def test_ban_reaches_the_origin_with_its_method(self):
        r = self.request("BAN", "/echo/ge-ban", headers={"X-Ban-Url": "/static/.*"})
        self.assertEqual(r.status, 200)
        echo = r.json()
        self.assertEqual(echo["method"], "BAN")
        self.assertIn(["X-Ban-Url", "/static/.*"], echo["headers"])
        self.assertEqual([q["method"] for q in self.origin.requests("/echo/ge-ban")], ["BAN"])

    def test_propfind_with_a_body(self):
        xml = b'<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>'
        r = self.request("PROPFIND", "/echo/ge-dav", headers={"Depth": "1", "Content-Type": "application/xml"},
                         body=xml)
        self.assertEqual(r.status, 200)
        echo = r.json()
        self.assertEqual(echo["method"], "PROPFIND")
        self.assertEqual(echo["body_length"], len(xml))

    def test_unknown_token_methods_with_bodies_keep_framing_on_one_connection(self):
        # An extension method with a Content-Length body, one with a chunked
        # body and a GET, pipelined: each is framed right and answered in order.
        with self.raw(timeout=5) as c:
            c.send(b"X-PURGE-ALL /echo/ge-pipe1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                   b"REPORTX /echo/ge-pipe2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n0\r\n\r\n"
                   b"GET /echo/ge-pipe3 HTTP/1.1\r\nHost: a\r\n\r\n")
            answers = [c.read_response().json() for _ in range(3)]
        self.assertEqual([(a["method"], a["path"], a["body_length"]) for a in answers],
                         [("X-PURGE-ALL", "/echo/ge-pipe1", 5), ("REPORTX", "/echo/ge-pipe2", 3),
                          ("GET", "/echo/ge-pipe3", 0)])

    def test_extension_methods_are_never_cached(self):
        for _ in range(2):
            r = self.request("BAN", "/ge/ban-cache?cc=max-age%3D60&size=4")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("X-Cache"), "BYPASS")
        self.assertEqual(self.origin.count("/ge/ban-cache"), 2)
        # ...nor stored for a GET afterwards.
        self.assertEqual(self.get("/ge/ban-cache?cc=max-age%3D60&size=4").header("X-Cache"), "MISS")

    def test_known_webdav_methods_still_work(self):
        for method in ("MKCOL", "COPY", "PATCH"):
            r = self.request(method, "/echo/ge-known")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["method"], method)


class RefusalAccessLogTest(ProblemAssertions, RelayTestCase):
    """The request id a refused client sees is the one its access log line carries."""

    @classmethod
    def relay_config(cls):
        return {"server": {"max_url_length": 512, "max_body_size": 10},
                "log": {"access_log": str(cls.workdir / "access.log"), "format": "json"}}

    def entries(self):
        path = self.workdir / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def test_ids_match_for_414_and_413(self):
        with self.raw(timeout=5) as c:
            r414 = send_raw(c, b"GET /ge/" + b"a" * 1000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        rid414 = self.assertProblem(r414, 414, "uri-too-long")["request_id"]
        r413 = self.request("POST", "/echo/ge-log", body=b"q" * 11)
        rid413 = self.assertProblem(r413, 413, "content-too-large")["request_id"]
        wait_until(lambda: {rid414, rid413} <= {e["request_id"] for e in self.entries()}, 5,
                   what="both refusals in the access log")
        by_id = {e["request_id"]: e for e in self.entries()}
        self.assertEqual(by_id[rid414]["status"], 414)
        self.assertEqual(by_id[rid413]["status"], 413)
        self.assertEqual(by_id[rid413]["method"], "POST")
        self.assertGreater(by_id[rid413]["bytes"], 0)


if __name__ == "__main__":
    unittest.main()
