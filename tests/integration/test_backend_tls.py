#!/usr/bin/env python3
"""TLS between sluice and a real Postfix backend: STARTTLS and implicit TLS
(smtpd_tls_wrappermode), with the backend's certificate verified against a
test CA, and failing closed (421) when TLS cannot be had."""

import os
import unittest

from harness import runner
from harness.certs import TestCA
from harness.client import RawClient, make_message, swaks_send
from harness.postfix import PrivatePostfix
from harness.sluice import Sluice, free_port
from harness.util import make_tempdir, remove_tree

NEEDS_POSTFIX = True


class BackendTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        runner.require_postfix()
        runner.require_sluice()
        cls.dir = make_tempdir("sluice-btls-")
        os.chmod(cls.dir, 0o755)
        cls.ca = TestCA(cls.dir)
        cert, key = cls.ca.issue("backend.test", ["backend.test", "127.0.0.1"])
        cls.smtps_port = free_port()
        cls.pf = PrivatePostfix(main_cf={
            "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key, "smtpd_tls_security_level": "may",
            "smtpd_tls_loglevel": "1"},
            master_cf_extra="tlsmgr unix - - n 1000? 1 tlsmgr\n"
                            "127.0.0.1:%d inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n"
                            "  -o smtpd_tls_security_level=encrypt\n" % cls.smtps_port).start()
        cls.plain_pf = PrivatePostfix().start()       # a backend without STARTTLS

    @classmethod
    def tearDownClass(cls):
        cls.pf.stop()
        cls.plain_pf.stop()
        remove_tree(cls.dir)

    def sluice(self, block, backend=None):
        sl = Sluice(backend=backend or self.pf, extra=["backend_tls {"] + ["  " + b for b in block] + ["}"]).start()
        self.addCleanup(sl.__exit__, None, None, None)
        return sl

    def send(self, sl, source):
        p, mid = swaks_send(sl.port, to="alice@example.test", source=source, helo="client.test", body="over TLS")
        self.assertEqual(p.returncode, 0, p.stdout[-2000:])
        [m] = self.pf.wait_for_message(mid)
        return m, mid

    def test_starttls_to_the_backend_verified(self):
        sl = self.sluice(["mode starttls", "ca %s" % self.ca.path])
        m, mid = self.send(sl, "127.0.0.31")
        log = self.pf.maillog()
        self.assertRegex(log, r"TLS connection established from \S+\[127\.0\.0\.1\]: TLSv1\.[23]")
        qid = self.pf.queue_id_for(mid)
        self.assertEqual(self.pf.queue_info()[qid]["client"], "unknown[127.0.0.31]", log)   # XCLIENT after TLS

    def test_implicit_tls_to_the_backend(self):
        sl = self.sluice(["mode implicit", "ca %s" % self.ca.path], backend="127.0.0.1:%d" % self.smtps_port)
        m, mid = self.send(sl, "127.0.0.32")
        qid = self.pf.queue_id_for(mid)
        self.assertEqual(self.pf.queue_info()[qid]["client"], "unknown[127.0.0.32]", self.pf.maillog())

    def test_verification_failure_fails_closed(self):
        sl = self.sluice(["mode starttls", "ca %s" % self.ca.path, "name wrong.example"])
        c = RawClient(sl.port, source="127.0.0.33", timeout=10)
        self.addCleanup(c.close)
        c.banner()
        r = c.cmd("EHLO client.test")
        self.assertEqual(r.code, 421, str(r))
        ev = sl.wait_event("backend.error", what="TLS")
        self.assertIn("certificate verify failed", ev["detail"])

    def test_backend_without_starttls_fails_closed(self):
        sl = self.sluice(["mode starttls", "verify off"], backend=self.plain_pf)
        c = RawClient(sl.port, source="127.0.0.34", timeout=10)
        self.addCleanup(c.close)
        c.banner()
        self.assertEqual(c.cmd("EHLO client.test").code, 421)
        sl.wait_event("backend.error", what="STARTTLS not offered")


if __name__ == "__main__":
    runner.main()
