"""RFC 9111 §4.4 (invalidating stored responses): a non-error response to an
unsafe method invalidates the target URI and same-origin Location /
Content-Location URIs; error responses and other hosts invalidate nothing.
Origin responses are scripted per path (every method consumes a step)."""
import unittest

from harness import RelayTestCase

CACHEABLE = {"body": "stored", "headers": [["Cache-Control", "max-age=60"]]}


class InvalidationTest(RelayTestCase):

    def store(self, path, *steps):
        """Script path (default: always CACHEABLE) and get it stored: MISS then HIT."""
        self.script(path, *(steps or (CACHEABLE,)))
        self.assertXCache(self.get(path), "MISS")
        self.assertXCache(self.get(path), "HIT")

    def test_unsafe_methods_invalidate_the_target(self):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                path = "/inv/method/" + method.lower()
                self.store(path)
                r = self.request(method, path, body=b"data")
                self.assertEqual(r.status, 200)
                self.assertXCache(self.get(path), "MISS")
                self.assertXCache(self.get(path), "HIT")
                self.assertEqual(self.origin.count(path), 3)

    def test_redirect_status_invalidates(self):
        path = "/inv/redirect"
        self.store(path, CACHEABLE, {"status": 303, "headers": [["Location", "/inv/redirect-done"]]},
                   CACHEABLE)
        self.assertEqual(self.request("POST", path, body=b"x").status, 303)
        self.assertXCache(self.get(path), "MISS")
        self.assertEqual(self.origin.count(path), 3)

    def test_error_responses_invalidate_nothing(self):
        for status in (500, 404):
            with self.subTest(status=status):
                path = "/inv/error/%d" % status
                self.store(path, CACHEABLE, {"status": status, "body": "no"}, CACHEABLE)
                self.assertEqual(self.request("POST", path, body=b"x").status, status)
                r = self.get(path)
                self.assertXCache(r, "HIT")
                self.assertEqual(r.body, b"stored")
                self.assertEqual(self.origin.count(path), 2)

    def test_same_origin_location_and_content_location_are_invalidated(self):
        rel, absolute, content = "/inv/loc/rel", "/inv/loc/abs", "/inv/loc/content"
        for path in (rel, absolute, content):
            self.store(path)
        base = "http://127.0.0.1:%d" % self.port
        self.script("/inv/loc/src", {"status": 201, "body": "created",
                                     "headers": [["Location", rel],
                                                 ["Content-Location", base + content]]},
                    {"status": 201, "body": "created", "headers": [["Location", base + absolute]]})
        self.assertEqual(self.request("POST", "/inv/loc/src", body=b"x").status, 201)
        self.assertEqual(self.request("POST", "/inv/loc/src", body=b"x").status, 201)
        for path in (rel, absolute, content):
            with self.subTest(path=path):
                self.assertXCache(self.get(path), "MISS")
                self.assertEqual(self.origin.count(path), 2)

    def test_other_host_location_is_not_invalidated(self):
        path = "/inv/other/target"
        self.store(path)
        self.script("/inv/other/src", {"status": 201, "headers": [
            ["Location", "http://other.example" + path],
            ["Content-Location", "http://other.example:8081" + path]]})
        self.assertEqual(self.request("POST", "/inv/other/src", body=b"x").status, 201)
        self.assertXCache(self.get(path), "HIT")
        self.assertEqual(self.origin.count(path), 1)

    def test_all_variants_are_invalidated(self):
        path = "/inv/vary"
        self.script(path, {"body": "v", "headers": [["Cache-Control", "max-age=60"],
                                                     ["Vary", "Accept-Language"]]})
        for lang in ("en", "fr"):
            self.assertXCache(self.get(path, headers={"Accept-Language": lang}), "MISS")
            self.assertXCache(self.get(path, headers={"Accept-Language": lang}), "HIT")
        self.assertEqual(self.request("POST", path, body=b"x").status, 200)
        for lang in ("en", "fr"):
            self.assertXCache(self.get(path, headers={"Accept-Language": lang}), "MISS")
        self.assertEqual(self.origin.count(path), 5)

    def test_other_query_is_a_different_uri(self):
        path = "/inv/query"
        self.script(path, CACHEABLE)
        for q in ("?a=1", "?a=2"):
            self.assertXCache(self.get(path + q), "MISS")
        self.assertEqual(self.request("POST", path + "?a=1", body=b"x").status, 200)
        self.assertXCache(self.get(path + "?a=1"), "MISS")
        self.assertXCache(self.get(path + "?a=2"), "HIT")
        self.assertEqual(self.origin.count(path), 4)


if __name__ == "__main__":
    unittest.main()
