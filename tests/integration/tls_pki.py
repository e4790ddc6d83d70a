"""A private PKI for the upstream TLS tests, made at test time with the
openssl CLI (EC P-256 keys, valid two days): two CAs, server certificates
signed by the first, a client certificate for mTLS, and a hashed CA
directory. Nothing is fixed in the repository, so nothing expires there."""
import shutil
import subprocess
from pathlib import Path


def openssl(*args, cwd):
    """Runs `openssl args...`; raises with openssl's stderr when it fails."""
    done = subprocess.run(["openssl", *map(str, args)], cwd=str(cwd), capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(map(str, args)), done.stderr))
    return done.stdout


class Pki:
    KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca, self.ca_key = self.make_ca("ca", "relay test CA")
        self.other_ca, self.other_ca_key = self.make_ca("other-ca", "another CA")
        # Valid for the name and the address tests connect to.
        self.server, self.server_key = self.leaf("server", "origin.test", "serverAuth",
                                                 "DNS:origin.test,IP:127.0.0.1")
        # Valid for the name only: reached at 127.0.0.1, it needs SNI = origin.test.
        self.named, self.named_key = self.leaf("named", "origin.test", "serverAuth", "DNS:origin.test")
        self.client, self.client_key = self.leaf("client", "relay-client", "clientAuth")
        self.client_combined = self.dir / "client-combined.pem"
        self.client_combined.write_text(self.client.read_text() + self.client_key.read_text())
        self.stranger, self.stranger_key = self.leaf("stranger", "stranger", "clientAuth", ca="other-ca")
        # A directory OpenSSL looks CAs up in by subject hash (<hash>.0).
        self.ca_dir = self.dir / "ca-dir"
        self.ca_dir.mkdir(exist_ok=True)
        shutil.copy(self.ca, self.ca_dir / "relay-test-ca.pem")
        openssl("rehash", self.ca_dir, cwd=self.dir)

    def make_ca(self, name, cn):
        cert, key = self.dir / (name + ".pem"), self.dir / (name + ".key")
        openssl("req", "-x509", *self.KEY, "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        return cert, key

    def leaf(self, name, cn, usage, san=None, ca="ca"):
        cert, key, csr = (self.dir / (name + ext) for ext in (".pem", ".key", ".csr"))
        openssl("req", "-new", *self.KEY, "-keyout", key, "-out", csr, "-subj", "/CN=" + cn, cwd=self.dir)
        ext = self.dir / (name + ".ext")
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=%s\n%s" % (usage, "subjectAltName=%s\n" % san if san else ""))
        openssl("x509", "-req", "-in", csr, "-CA", self.dir / (ca + ".pem"), "-CAkey", self.dir / (ca + ".key"),
                "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext, cwd=self.dir)
        return cert, key
