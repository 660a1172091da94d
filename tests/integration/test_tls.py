#!/usr/bin/env python3
"""TLS on the client side: STARTTLS and implicit TLS terminated by sluice,
with real handshakes (openssl s_client, swaks, Python ssl/smtplib) and
certificates made by the test with openssl."""

import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.certs import TestCA
from harness.client import RawClient, make_message, run_swaks
from harness.sluice import free_port
from harness.util import make_tempdir, remove_tree, wait_until


class TlsCase(SluiceCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = make_tempdir("sluice-tls-")
        os.chmod(cls.dir, 0o755)
        cls.ca = TestCA(cls.dir)
        cls.cert, cls.key = cls.ca.issue("mx.sluice.test", ["mx.sluice.test", "127.0.0.1"])
        cls.cert2, cls.key2 = cls.ca.issue("other.test", ["other.test", "*.other.test"])

    @classmethod
    def tearDownClass(cls):
        remove_tree(cls.dir)

    def tls_block(self, *extra, certs=None):
        certs = certs or [(self.cert, self.key), (self.cert2, self.key2)]
        return ["tls {"] + ["  certificate %s %s" % c for c in certs] + ["  " + e for e in extra] + ["}"]

    def start_tls(self, *extra, listen=(), **kw):
        lines = self.tls_block(*extra) + ["listen 127.0.0.1:%d %s" % (p, opt) for p, opt in listen]
        return self.start(extra=lines, **kw)

    def context(self, server_hostname="mx.sluice.test"):
        ctx = ssl.create_default_context(cafile=self.ca.path)
        return ctx

    def s_client(self, port, *args, data=b"QUIT\r\n", starttls=True):
        cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", self.ca.path, "-verify_return_error",
               "-ign_eof"] + (["-starttls", "smtp"] if starttls else []) + list(args)
        p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return p.returncode, p.stdout.decode("utf-8", "replace")


class TestStartTls(TlsCase):
    def test_ehlo_offers_starttls_and_hides_the_backends(self):
        fb, sl = self.start_tls()
        c = self.client(sl)
        c.banner()
        r = c.cmd("EHLO client.test", expect=250)
        self.assertEqual(r.text.count("STARTTLS"), 1)          # ours, once (the backend's is dropped)
        self.assertNotIn("AUTH", r.text)

    def test_openssl_s_client_starttls(self):
        fb, sl = self.start_tls()
        rc, out = self.s_client(sl.port, "-servername", "mx.sluice.test",
                                data=b"EHLO client.test\r\nQUIT\r\n")
        self.assertEqual(rc, 0, out)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertRegex(out, r"Protocol\s*: TLSv1\.3")
        self.assertIn("221 2.0.0 Bye", out)
        ehlo_after = out[out.index("EHLO client.test") if "EHLO client.test" in out else 0:]
        self.assertNotIn("250-STARTTLS", out.split("---\n")[-1])  # not offered again inside TLS
        ev = sl.wait_event("tls.start")
        self.assertEqual((ev["version"], ev["mode"], ev["sni"]), ("TLSv1.3", "starttls", "mx.sluice.test"))

    def test_smtplib_sends_a_message_over_tls(self):
        fb, sl = self.start_tls()
        msgid, raw = make_message()
        with smtplib.SMTP("127.0.0.1", sl.port, local_hostname="client.test", timeout=10) as s:
            s.starttls(context=self.context())
            s.ehlo("client.test")
            self.assertFalse(s.has_extn("starttls"))
            s.sendmail("sender@client.test", ["alice@example.test"], raw)
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)
        got = fb.all_messages()[0]
        self.assertIn(msgid.encode(), got)
        # XCLIENT has no word for TLS: a Received header tells the backend
        self.assertRegex(got.split(b"\r\n\r\n")[0],
                         rb"^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.sluice\.test \(sluice\) "
                         rb"with ESMTPS \(TLSv1\.3:TLS_[A-Z0-9_]+:\d+\)\r\n\tid [0-9a-f]{16}; ")
        rec = sl.wait_decision(event="msg.accept")
        self.assertEqual(rec["tls"], "TLSv1.3")
        self.assertTrue(rec["tls_cipher"])
        close = sl.wait_event("conn.close")
        self.assertEqual(close["tls"], "TLSv1.3")
        # the client's EHLO after TLS reached the backend: the dialogue started over
        self.assertEqual(fb.all_verbs().count("EHLO") + fb.all_verbs().count("HELO") >= 2, True)

    def test_swaks_tls(self):
        fb, sl = self.start_tls()
        p = run_swaks(["--server", "127.0.0.1:%d" % sl.port, "--to", "alice@example.test", "--from",
                       "sender@client.test", "--helo", "client.test", "--tls", "--tls-verify", "--tls-ca-path",
                       self.ca.path, "--tls-sni", "mx.sluice.test"])
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("TLS started", p.stdout)
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)

    def test_injection_after_starttls_is_discarded(self):
        fb, sl = self.start_tls()
        c = self.session(sl)
        c.send(b"STARTTLS\r\nRSET\r\n")                          # one packet: RSET is plaintext injection
        r = c.read_reply()
        self.assertEqual(r.code, 220)
        tls = self.context().wrap_socket(c.sock, server_hostname="mx.sluice.test")
        tls.sendall(b"EHLO client.test\r\n")
        data = b""
        while not data.endswith(b"\r\n") or not re.search(rb"^250 ", data, re.M):
            data += tls.recv(4096)
        self.assertTrue(data.startswith(b"250-mx.sluice.test"), data)   # the EHLO's reply, no RSET reply first
        tls.sendall(b"NOOP\r\n")
        self.assertTrue(tls.recv(4096).startswith(b"250 2.0.0"))
        tls.close()
        ev = sl.wait_event("tls.injection")
        self.assertEqual(ev["discarded_bytes"], "6")
        self.assertNotIn("RSET", fb.all_verbs())

    def test_starttls_refusals(self):
        fb, sl = self.start_tls()
        c = self.session(sl)
        c.cmd("STARTTLS now", expect=501)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("STARTTLS", expect=503)                             # inside a transaction
        c.cmd("RSET", expect=250)
        c.cmd("STARTTLS", expect=220)
        tls = self.context().wrap_socket(c.sock, server_hostname="mx.sluice.test")
        tls.sendall(b"EHLO client.test\r\nSTARTTLS\r\n")
        data = b""
        while data.count(b"\r\n503 ") + data.count(b"503 5.5.1") == 0:
            chunk = tls.recv(4096)
            self.assertTrue(chunk, data)
            data += chunk
        self.assertIn(b"503 5.5.1 Error: TLS already active", data)
        tls.close()

    def test_without_tls_block_starttls_is_not_offered(self):
        fb, sl = self.start()
        c = self.session(sl)
        c.cmd("STARTTLS", expect=502)

    def test_failed_handshake_is_logged_and_harmless(self):
        fb, sl = self.start_tls()
        c = self.session(sl)
        c.cmd("STARTTLS", expect=220)
        c.send(b"\x16\x03\x01\x00\x05garbage-not-a-client-hello\r\n")
        self.assert_closed(c)
        ev = sl.wait_event("tls.error")
        self.assertEqual(ev["stage"], "handshake")
        self.assertTrue(ev["error"])
        c2 = self.session(sl)                                      # still serving
        c2.cmd("NOOP", expect=250)

    def test_old_protocols_refused(self):
        fb, sl = self.start_tls()
        rc, out = self.s_client(sl.port, "-tls1_1")
        self.assertNotEqual(rc, 0, out)
        sl.wait_event("tls.error")


class TestImplicitAndPolicy(TlsCase):
    def test_implicit_tls_listener_with_swaks_tlsc(self):
        port = free_port()
        fb, sl = self.start_tls(listen=[(port, "tls")])
        p = run_swaks(["--server", "127.0.0.1:%d" % port, "--to", "alice@example.test", "--from",
                       "sender@client.test", "--helo", "client.test", "--tlsc", "--tls-verify", "--tls-ca-path",
                       self.ca.path, "--tls-sni", "mx.sluice.test"])
        self.assertEqual(p.returncode, 0, p.stdout)
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)
        ev = sl.wait_event("tls.start", mode="implicit")
        self.assertTrue(ev["cipher"])
        rc, out = self.s_client(port, "-servername", "mx.sluice.test", starttls=False,
                                data=b"EHLO client.test\r\nQUIT\r\n")
        self.assertEqual(rc, 0, out)
        self.assertNotIn("STARTTLS", out.split("Verify return code")[-1])  # no STARTTLS inside TLS

    def test_sni_picks_the_certificate(self):
        fb, sl = self.start_tls()
        rc, out = self.s_client(sl.port, "-servername", "mail.other.test", "-verify_hostname", "mail.other.test")
        self.assertEqual(rc, 0, out)
        self.assertIn("subject=CN = other.test", out)
        rc, out = self.s_client(sl.port, "-servername", "mx.sluice.test")
        self.assertIn("subject=CN = mx.sluice.test", out)
        rc, out = self.s_client(sl.port)                             # no SNI: the first certificate
        self.assertIn("subject=CN = mx.sluice.test", out)

    def test_require_tls(self):
        port = free_port()
        fb, sl = self.start_tls(listen=[(port, "require_tls")])
        c = RawClient(port, timeout=5)
        self.addCleanup(c.close)
        c.banner()
        c.ehlo("client.test")
        c.cmd("MAIL FROM:<a@client.test>", expect=530)
        self.assertNotIn("MAIL", fb.all_verbs())
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=10) as s:
            s.starttls(context=self.context())
            s.sendmail("a@client.test", ["alice@example.test"], make_message()[1])

    def test_certificates_reload_on_sighup_without_dropping_sessions(self):
        d = make_tempdir("sluice-tls-reload-")
        self.addCleanup(remove_tree, d)
        crt, key = os.path.join(d, "mx.pem"), os.path.join(d, "mx.key")
        shutil.copy(self.cert, crt)
        shutil.copy(self.key, key)
        fb, sl = self.start(extra=self.tls_block(certs=[(crt, key)]))
        old = self.session(sl)
        old.cmd("STARTTLS", expect=220)
        tls = self.context().wrap_socket(old.sock, server_hostname="mx.sluice.test")
        new_crt, new_key = self.ca.issue("mx.sluice.test", ["mx.sluice.test"], tag="mx-renewed")
        shutil.copy(new_crt, crt)
        shutil.copy(new_key, key)
        ev = sl.reload()
        self.assertEqual(ev["ev"], "daemon.reload")
        rc, out = self.s_client(sl.port, "-servername", "mx.sluice.test", "-showcerts")
        self.assertEqual(rc, 0, out)
        with open(new_crt) as f:
            self.assertIn(f.read().strip().splitlines()[1], out)       # the renewed certificate is served
        tls.sendall(b"EHLO client.test\r\n")                          # the old session goes on
        data = b""
        while b"\r\n250 " not in data:
            data += tls.recv(4096)
        tls.close()

    def test_bad_certificate_is_a_config_error(self):
        from harness.sluice import check_config
        status, out = check_config("listen 127.0.0.1:2525\nbackend 127.0.0.1:10025\n"
                                   "tls {\n  certificate %s %s\n}\n" % (self.cert, self.key2))
        self.assertNotEqual(status, 0)
        self.assertRegex(out, r":4:\d+: cannot load private key .*key values mismatch")
        status, out = check_config("listen 127.0.0.1:2525 tls\nbackend 127.0.0.1:10025\n")
        self.assertIn("uses TLS but there is no tls { } block", out)


if __name__ == "__main__":
    runner.main()
