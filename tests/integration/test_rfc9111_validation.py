"""RFC 9111 §4.3 (validation): the conditional requests relay sends for stale
and no-cache entries, how a 304 or a full response updates the stored one
(§3.2, §4.3.4), and the client's own conditionals answered from a fresh
stored response (§4.3.2, RFC 9110 §13). Origin responses are scripted
(origin.py /__script); max-age=0 makes an entry stale at once, so these tests
don't sleep."""
import unittest

from harness import (RelayTestCase, http_date, parse_http_date, request_header,
                     target_for as T)

LONG_AGO = 1_000_000_000
LM = http_date(LONG_AGO)


def etag_list(value):
    return [t.strip() for t in (value or "").split(",") if t.strip()]


class ValidationTest(RelayTestCase):

    def cc(self, value):
        return ["Cache-Control", value]

    def test_stale_entry_is_revalidated_with_if_none_match(self):
        path = "/va/inm"
        self.script(path, {"etag": '"v1"', "headers": [self.cc("max-age=0")], "body": "one"})
        self.assertXCache(self.get(path), "MISS")
        r = self.get(path)
        self.assertEqual((r.status, r.body), (200, b"one"))
        self.assertXCache(r, "REVALIDATED")
        self.assertCacheStatus(r, fwd="stale", fwd_status=304)
        reqs = self.origin.requests(path)
        self.assertEqual(len(reqs), 2)
        self.assertIn('"v1"', etag_list(request_header(reqs[1], "If-None-Match")))
        self.assertEqual(reqs[1]["status"], 304)

    def test_stale_entry_is_revalidated_with_if_modified_since(self):
        path = "/va/ims"
        self.script(path, {"last_modified": LM, "headers": [self.cc("max-age=0")], "body": "one"})
        self.assertXCache(self.get(path), "MISS")
        r = self.get(path)
        self.assertEqual((r.status, r.body), (200, b"one"))
        self.assertXCache(r, "REVALIDATED")
        reqs = self.origin.requests(path)
        self.assertEqual(len(reqs), 2)
        self.assertIsNone(request_header(reqs[1], "If-None-Match"))
        ims = request_header(reqs[1], "If-Modified-Since")
        self.assertIsNotNone(ims, "no If-Modified-Since in %r" % reqs[1]["headers"])
        self.assertEqual(parse_http_date(ims), LONG_AGO)
        self.assertEqual(reqs[1]["status"], 304)

    def test_both_validators_are_sent(self):
        path = "/va/both"
        self.script(path, {"etag": '"b1"', "last_modified": LM,
                           "headers": [self.cc("max-age=0")], "body": "one"})
        self.get(path)
        self.assertXCache(self.get(path), "REVALIDATED")
        req = self.origin.requests(path)[1]
        self.assertIn('"b1"', etag_list(request_header(req, "If-None-Match")))
        self.assertEqual(parse_http_date(request_header(req, "If-Modified-Since") or ""), LONG_AGO)

    def test_304_updates_stored_headers_but_not_the_body(self):
        path = "/va/update"
        self.script(path,
                    {"etag": '"u1"', "body": "payload-1",
                     "headers": [self.cc("max-age=0"), ["X-Version", "1"],
                                 ["Content-Type", "text/plain"]]},
                    {"etag": '"u1"', "body": "unused",
                     "headers_304": [self.cc("max-age=60"), ["X-Version", "2"]]})
        first = self.get(path)
        self.assertXCache(first, "MISS")
        self.assertEqual(first.header("X-Version"), "1")
        for want in ("REVALIDATED", "HIT"):
            r = self.get(path)
            self.assertXCache(r, want)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"payload-1")
            self.assertEqual(r.header("X-Version"), "2")
            self.assertEqual(r.header("Cache-Control"), "max-age=60")
            self.assertEqual(r.header("Content-Type"), "text/plain")
            self.assertEqual(r.header("Content-Length"), "9")
            self.assertEqual(r.header("ETag"), '"u1"')
        self.assertEqual(self.origin.count(path), 2)

    def test_304_content_length_is_never_taken(self):
        # §3.2: Content-Length of a 304 (here a wrong 0) must not replace the stored one.
        path = "/va/cl0"
        self.script(path,
                    {"etag": '"c1"', "body": "payload-22", "headers": [self.cc("max-age=0")]},
                    {"etag": '"c1"', "headers_304": [self.cc("max-age=60"),
                                                     ["Content-Length", "0"]]})
        self.assertXCache(self.get(path), "MISS")
        for want in ("REVALIDATED", "HIT"):
            r = self.get(path)
            self.assertXCache(r, want)
            self.assertEqual(r.header("Content-Length"), "10")
            self.assertEqual(r.body, b"payload-22")

    def test_full_response_replaces_the_stored_one(self):
        path = "/va/replace"
        self.script(path,
                    {"etag": '"r1"', "body": "one", "headers": [self.cc("max-age=0")]},
                    {"etag": '"r2"', "body": "two", "headers": [self.cc("max-age=60")]})
        self.assertEqual(self.get(path).body, b"one")
        r = self.get(path)
        self.assertXCache(r, "EXPIRED")
        self.assertEqual((r.status, r.body, r.header("ETag")), (200, b"two", '"r2"'))
        self.assertCacheStatus(r, fwd="stale", fwd_status=200, stored=True)
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertEqual(r.body, b"two")
        reqs = self.origin.requests(path)
        self.assertEqual(len(reqs), 2)
        self.assertIn('"r1"', etag_list(request_header(reqs[1], "If-None-Match")))
        self.assertEqual(reqs[1]["status"], 200)

    def test_no_cache_response_is_always_revalidated(self):
        path = "/va/nocache"
        self.script(path, {"etag": '"n1"', "body": "nc", "headers": [self.cc("no-cache, max-age=60")]})
        self.assertXCache(self.get(path), "MISS")
        for _ in range(2):
            r = self.get(path)
            self.assertXCache(r, "REVALIDATED")
            self.assertEqual(r.body, b"nc")
            self.assertCacheStatus(r, fwd_status=304)
        reqs = self.origin.requests(path)
        self.assertEqual(len(reqs), 3)
        for req in reqs[1:]:
            self.assertIn('"n1"', etag_list(request_header(req, "If-None-Match")))
            self.assertEqual(req["status"], 304)

    def test_client_conditional_on_stale_entry(self):
        path = "/va/clientstale"
        self.script(path, {"etag": '"s1"', "body": "one", "headers": [self.cc("max-age=0")]})
        self.assertXCache(self.get(path), "MISS")
        r = self.get(path, headers={"If-None-Match": '"s1"'})
        self.assertEqual((r.status, r.body), (304, b""))
        self.assertEqual(self.origin.count(path), 2)
        self.assertEqual(self.origin.requests(path)[1]["status"], 304)

    # -- client conditionals on a fresh stored response -------------------------

    def store_fresh(self, path, etag='"abc"', last_modified=LM):
        step = {"body": "fresh-body", "headers": [self.cc("max-age=60")]}
        if etag:
            step["etag"] = etag
        if last_modified:
            step["last_modified"] = last_modified
        self.script(path, step)
        self.assertXCache(self.get(path), "MISS")

    def test_if_none_match_on_fresh_entry_is_304_from_cache(self):
        path = "/va/cinm"
        self.store_fresh(path)
        for inm in ('"abc"', 'W/"abc"', '"zzz", "abc"', "*"):
            with self.subTest(inm=inm):
                r = self.get(path, headers={"If-None-Match": inm})
                self.assertEqual((r.status, r.body), (304, b""))
                self.assertXCache(r, "HIT")
                self.assertEqual(r.header("ETag"), '"abc"')
                self.assertEqual(r.header("Cache-Control"), "max-age=60")
                self.assertIsNotNone(r.header("Date"))
        r = self.get(path, headers={"If-None-Match": '"zzz"'})
        self.assertEqual((r.status, r.body), (200, b"fresh-body"))
        self.assertXCache(r, "HIT")
        self.assertEqual(self.origin.count(path), 1)

    def test_weak_stored_etag_matches_strong_client_tag(self):
        path = "/va/weak"
        self.store_fresh(path, etag='W/"w1"')
        r = self.get(path, headers={"If-None-Match": '"w1"'})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header("ETag"), 'W/"w1"')
        self.assertEqual(self.origin.count(path), 1)

    def test_if_modified_since_on_fresh_entry(self):
        path = "/va/cims"
        self.store_fresh(path, etag=None)
        for ims, status in ((LM, 304), (http_date(LONG_AGO + 3600), 304),
                            (http_date(LONG_AGO - 3600), 200)):
            with self.subTest(ims=ims):
                r = self.get(path, headers={"If-Modified-Since": ims})
                self.assertEqual(r.status, status)
                self.assertXCache(r, "HIT")
                self.assertEqual(r.body, b"" if status == 304 else b"fresh-body")
        self.assertEqual(self.origin.count(path), 1)

    def test_if_none_match_takes_precedence_over_if_modified_since(self):
        # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
        path = "/va/precedence"
        self.store_fresh(path)
        r = self.get(path, headers={"If-None-Match": '"other"', "If-Modified-Since": LM})
        self.assertEqual((r.status, r.body), (200, b"fresh-body"))
        self.assertEqual(self.origin.count(path), 1)

    def test_head_is_served_from_the_stored_get(self):
        t = T("/va/head", cc="max-age=60", size=321, etagv='"h1"')
        self.assertXCache(self.get(t), "MISS")
        with self.raw() as c:
            c.request("HEAD", t)
            head = c.read_response(method="HEAD")
            self.assertEqual(head.status, 200)
            self.assertXCache(head, "HIT")
            self.assertCacheStatus(head, hit=True)
            self.assertEqual(head.header("Content-Length"), "321")
            self.assertEqual(head.header("ETag"), '"h1"')
            c.request("HEAD", t, headers={"If-None-Match": '"h1"'})
            self.assertEqual(c.read_response(method="HEAD").status, 304)
        self.assertEqual(self.origin.count("/va/head"), 1)


if __name__ == "__main__":
    unittest.main()
