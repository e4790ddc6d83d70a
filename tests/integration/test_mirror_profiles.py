"""examples/apt-mirror.toml and examples/nix-cache.toml as written, in front
of a mirror-like origin (mirror_origin.py: files from a directory, no
validators or freshness, byte ranges, a 404 until a file appears), driven
by the request sequences apt and Nix make. Only what a test cannot wait
for is changed, through the environment: addresses, the store's directory,
min_free_space, and negative_ttl (1 s instead of 1 min)."""
import hashlib
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from harness import HERE, HOST, Origin, Relay, RelayTestCase, free_port, wait_until
from client import RawConn, get

ROOT = HERE.parent.parent
APT = ["Cache-Control", "max-age=0"]  # what apt sends on every update request


class MirrorOrigin(Origin):
    def __init__(self, workdir, root):
        super().__init__(workdir, name="mirror")
        self.root = Path(root)

    def argv(self, port, port_file):
        return [sys.executable, str(HERE / "mirror_origin.py"), "--root", str(self.root), "--port-file", str(port_file)]

    def count(self, path):
        return int(get(self.port, "/__count?path=" + path).body)

    def host(self, path):
        return get(self.port, "/__host?path=" + path).body.decode()

    def put(self, path, data):
        file = self.root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
        return data


class ProfileRelay(Relay):
    """relay --config <profile>: the file as shipped, the environment on top."""

    def __init__(self, workdir, profile, upstream_url, env):
        super().__init__(workdir, upstream_url)
        self.config = {}
        self.extra_toml = (ROOT / "examples" / profile).read_text()
        self.env = dict(env, RELAY_SERVER_LISTEN="%s:%d" % (HOST, self.port),
                        RELAY_ADMIN_LISTEN="%s:%d" % (HOST, free_port(other_than=self.port)),
                        RELAY_UPSTREAM_URL=upstream_url,
                        RELAY_STORAGE_DISK_PATH=str(Path(workdir) / "cache"),
                        RELAY_STORAGE_DISK_MIN_FREE_SPACE="0",
                        RELAY_CACHE_NEGATIVE_TTL="1s",
                        RELAY_LOG_ACCESS_LOG="off")


def deterministic(seed, size):
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    while len(out) < size:
        out += block
    return bytes(out[:size])


class ProfileCase(RelayTestCase):
    """RelayTestCase with the mirror origin and a profile instead of origin.py
    and a generated config; teardown and failure diagnostics are its own."""
    PROFILE = None

    @classmethod
    def setUpClass(cls):
        cls.workdir = Path(tempfile.mkdtemp(prefix="relay-mirror-"))
        (cls.workdir / "www").mkdir()
        cls.origin = MirrorOrigin(cls.workdir, cls.workdir / "www")
        cls.relay = None
        try:
            cls.origin.start()
            cls.relay = ProfileRelay(cls.workdir / "relay", cls.PROFILE, cls.origin.url, {})
            cls.relay.workdir.mkdir(exist_ok=True)
            cls.relay.start()
        except BaseException:
            cls.tearDownClass()
            raise

    def get(self, path, *headers):
        return get(self.relay.port, path, headers=dict(headers) if headers else None, timeout=60)

    def fetch_ok(self, path, data, *headers):
        r = self.get(path, *headers)
        self.assertEqual(r.status, 200, path)
        self.assertTrue(r.body == data, "body of %s differs from the mirror's" % path)
        return r

    def wait_hit(self, path, data):
        """The disk commit may finish just after the last byte went out."""
        def hit():
            r = self.get(path, ["Cache-Control", "only-if-cached"])
            return r.status == 200 and r.body == data
        wait_until(hit, 10, interval=0.05, what="%s stored" % path)


class AptMirrorTest(ProfileCase):
    PROFILE = "apt-mirror.toml"

    def suite(self, name):
        """The files one `apt-get update` of suite `name` fetches, put on the mirror."""
        base = "/debian/dists/%s" % name
        packages = deterministic(name + "Packages", 300 * 1024)
        digest = hashlib.sha256(packages).hexdigest()
        files = {
            base + "/InRelease": self.origin.put(base + "/InRelease", ("Suite: %s\nSHA256: %s\n" % (name, digest)).encode()),
            base + "/main/binary-amd64/by-hash/SHA256/" + digest: packages,
            base + "/main/i18n/by-hash/SHA256/" + digest[::-1]: deterministic(name + "Translation", 40 * 1024),
        }
        for path, data in files.items():
            self.origin.put(path, data)
        return files

    def update(self, files):
        for path, data in files.items():
            self.fetch_ok(path, data, APT)

    def test_a_second_update_makes_no_origin_request(self):
        files = self.suite("bookworm")
        self.update(files)
        for path, data in files.items():
            self.wait_hit(path, data)
        before = {p: self.origin.count(p) for p in files}
        self.assertEqual(set(before.values()), {1})
        self.update(files)
        self.assertEqual({p: self.origin.count(p) for p in files}, before, "the second update went to the mirror")

    def test_four_parallel_updates_make_one_origin_request_per_file(self):
        files = self.suite("trixie")
        errors = []

        def one():
            try:
                self.update(files)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual({p: self.origin.count(p) for p in files}, {p: 1 for p in files})

    def test_large_packages_are_cached_and_resumed_downloads_come_from_the_cache(self):
        small = "/debian/pool/main/r/relay/relay_1.0_amd64.deb"
        big = "/debian/pool/main/b/big/slow/big_1.0_amd64.deb"  # 100 MiB at ~200 MB/s
        small_data = self.origin.put(small, deterministic("small", 3 * 1024 * 1024 + 17))
        big_data = self.origin.put(big, deterministic("big", 100 * 1024 * 1024))
        for path, data in ((small, small_data), (big, big_data)):
            r = self.fetch_ok(path, data)
            self.assertEqual(r.header("X-Cache"), "MISS")
            self.assertIn("stored", r.header("Cache-Status"))
            self.wait_hit(path, data)
            self.assertEqual(self.fetch_ok(path, data).header("X-Cache"), "HIT")
            self.assertEqual(self.origin.count(path), 1, path)
        # apt resumes a partial file with Range (and If-Range: a date).
        r = self.get(big, ["Range", "bytes=%d-" % (60 * 1024 * 1024)])
        self.assertEqual(r.status, 206)
        self.assertTrue(r.body == big_data[60 * 1024 * 1024:])
        # The mirror sends no Last-Modified, so a date cannot be checked
        # (RFC 9110 §13.1.5): the whole file, still from the cache.
        r = self.get(big, ["Range", "bytes=1000-"], ["If-Range", "Sun, 06 Dec 2026 10:00:00 GMT"])
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body == big_data)
        self.assertEqual(self.origin.count(big), 1)

    def test_packages_fetched_over_one_connection_are_each_stored_once(self):
        # apt downloads over one keep-alive connection; each next request
        # goes out as soon as the last byte of the one before is in, while
        # that body's disk commit may still run in the background.
        paths = ["/debian/pool/main/k/keep/keep%d_1.0_amd64.deb" % i for i in range(4)]
        datas = [self.origin.put(p, deterministic(p, (i + 1) * 2 * 1024 * 1024 + i)) for i, p in enumerate(paths)]
        with RawConn(self.relay.port, timeout=60) as conn:
            for path, data in zip(paths, datas):
                for _ in range(2):  # the repeat arrives before the commit may have ended
                    conn.request("GET", path)
                    r = conn.read_response()
                    self.assertEqual(r.status, 200, path)
                    self.assertTrue(r.body == data, "body of %s differs from the mirror's" % path)
        for path, data in zip(paths, datas):
            self.wait_hit(path, data)
            self.assertEqual(self.origin.count(path), 1, path)

    def test_a_package_missing_upstream_is_found_once_the_mirror_has_it(self):
        path = "/debian/pool/main/n/new/new_2.0_amd64.deb"
        self.assertEqual(self.get(path).status, 404)
        self.assertEqual(self.get(path).status, 404)
        self.assertEqual(self.origin.count(path), 1, "a 404 is kept for negative_ttl")
        data = self.origin.put(path, deterministic("new", 200 * 1024))
        time.sleep(1.3)  # negative_ttl = 1s here, 1m in the profile
        self.fetch_ok(path, data)
        self.wait_hit(path, data)
        self.assertEqual(self.origin.count(path), 2)

    def test_the_mirror_gets_its_own_host(self):
        files = self.suite("host-check")
        path = next(iter(files))
        r = self.get(path, ["Host", "relay.internal:3142"])
        self.assertEqual(r.status, 200)
        # A CDN mirror routes by Host: it must see its own name, not relay's.
        self.assertEqual(self.origin.host(path), "%s:%d" % (HOST, self.origin.port))


class NixCacheTest(ProfileCase):
    PROFILE = "nix-cache.toml"

    def test_substituter_sequence(self):
        info = self.origin.put("/nix-cache-info", b"StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n")
        narinfo = "/0c0j1ggb8ll1gqb6z2ql1bwl4kfw2d5x.narinfo"
        nar_path = "/nar/1b5a3x6m5jzsqq9dkdvv0b5x3nfj6xr4zqbk1kfw2ki5mmlqhm9x.nar.xz"
        nar = self.origin.put(nar_path, deterministic("nar", 2 * 1024 * 1024))
        meta = self.origin.put(narinfo, ("StorePath: /nix/store/x\nURL: %s\n" % nar_path[1:]).encode())
        missing = "/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.narinfo"
        for _ in range(2):
            self.fetch_ok("/nix-cache-info", info)
            self.fetch_ok(narinfo, meta)
            self.fetch_ok(nar_path, nar, ["Cache-Control", "no-cache"])
            self.assertEqual(self.get(missing).status, 404)
            for path, data in (("/nix-cache-info", info), (narinfo, meta), (nar_path, nar)):
                self.wait_hit(path, data)
        for path in ("/nix-cache-info", narinfo, nar_path, missing):
            self.assertEqual(self.origin.count(path), 1, path)
        # The missing path is built and pushed: found after negative_ttl.
        built = self.origin.put(missing, b"StorePath: /nix/store/z\n")
        time.sleep(1.3)
        self.fetch_ok(missing, built)
        self.assertEqual(self.origin.count(missing), 2)


if __name__ == "__main__":
    unittest.main()
