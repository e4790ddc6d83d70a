"""What the origin frames around a response: transfer codings relay cannot
decode get a 502 (like nginx's "upstream sent unknown Transfer-Encoding")."""
from harness import RelayTestCase, wait_until

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
