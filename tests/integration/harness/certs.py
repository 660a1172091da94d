"""Certificates for TLS tests, made with the openssl command line.

    ca = TestCA(dir)                       # a private CA
    cert, key = ca.issue("mx.sluice.test", ["mx.sluice.test", "127.0.0.1"])
    ca.path                                # the CA certificate (for verification)
"""

import os
import subprocess

__all__ = ["TestCA"]


def _run(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class TestCA:
    def __init__(self, directory, name="sluice test CA"):
        self.dir = directory
        self.path = os.path.join(directory, "ca.pem")
        self.key = os.path.join(directory, "ca.key")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self.key, "-out", self.path, "-days", "2", "-subj", "/CN=%s" % name)
        self.serial = 1

    def issue(self, cn, names=(), client=False, tag=None):
        """A certificate for cn (and names as subjectAltName): returns (cert path, key path)."""
        tag = tag or cn
        key = os.path.join(self.dir, "%s.key" % tag)
        csr = os.path.join(self.dir, "%s.csr" % tag)
        crt = os.path.join(self.dir, "%s.pem" % tag)
        ext = os.path.join(self.dir, "%s.ext" % tag)
        sans = ",".join(("IP:%s" % n) if n.replace(".", "").isdigit() else ("DNS:%s" % n)
                        for n in (list(names) or [cn]))
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % sans)
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
             "-out", csr, "-subj", "/CN=%s" % cn)
        self.serial += 1
        _run("x509", "-req", "-in", csr, "-CA", self.path, "-CAkey", self.key, "-set_serial", str(self.serial),
             "-days", "2", "-out", crt, "-extfile", ext)
        os.chmod(key, 0o644)  # the daemon may run as another user in some tests
        return crt, key
