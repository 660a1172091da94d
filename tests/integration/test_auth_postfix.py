#!/usr/bin/env python3
"""AUTH through sluice to a real Postfix whose SASL is a real Dovecot:
clients say STARTTLS to sluice, authenticate (swaks, Python smtplib), and
relay; Postfix logs the SASL user; sluice records it, refuses a sender that
is not the user's, and no log anywhere contains the password."""

import glob
import os
import smtplib
import ssl
import unittest

from harness import runner
from harness.certs import TestCA
from harness.client import make_message, run_swaks
from harness.dovecot import PrivateDovecot
from harness.postfix import PrivatePostfix
from harness.sluice import Sluice
from harness.util import make_tempdir, remove_tree

NEEDS_POSTFIX = True
PASSWORD = "c0rrect-h0rse-battery-staple-7391"


class AuthPostfixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        runner.require_postfix()
        runner.require_sluice()
        cls.dir = make_tempdir("sluice-authpf-")
        os.chmod(cls.dir, 0o755)
        cls.ca = TestCA(cls.dir)
        cert, key = cls.ca.issue("mx.sluice.test", ["mx.sluice.test", "127.0.0.1"])
        senders = os.path.join(cls.dir, "senders")
        with open(senders, "w") as f:
            f.write("alice@example.test alice@example.test\n")
        cls.pf = PrivatePostfix(sasl=PrivateDovecot(users={"alice@example.test": PASSWORD})).start()
        cls.sl = Sluice(backend=cls.pf, extra=["tls {", "  certificate %s %s" % (cert, key), "}",
                                               "auth senders %s" % senders]).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sl.__exit__(None, None, None)  # stops it and checks for sanitizer reports
        finally:
            cls.pf.stop()
            remove_tree(cls.dir)

    def smtp(self, source):
        s = smtplib.SMTP("127.0.0.1", self.sl.port, local_hostname="client.test", timeout=15,
                         source_address=(source, 0))
        s.starttls(context=ssl.create_default_context(cafile=self.ca.path))
        s.ehlo("client.test")
        return s

    def test_auth_success_relay_and_user_everywhere(self):
        with self.smtp("127.0.0.51") as s:
            self.assertIn("PLAIN", s.esmtp_features.get("auth", "").upper())
            s.login("alice@example.test", PASSWORD)
            mid, raw = make_message(mail_from="alice@example.test", to="bob@remote.example")
            s.sendmail("alice@example.test", ["bob@remote.example"], raw)   # relaying needs AUTH
        [m] = self.pf.wait_for_relayed(mid)
        qid = self.pf.queue_id_for(mid)
        info = self.pf.queue_info()[qid]
        self.assertEqual(info["sasl_username"], "alice@example.test")
        self.assertEqual(info["client"], "unknown[127.0.0.51]")
        rec = self.sl.wait_decision(lambda r: r.get("msgid") == mid, event="msg.accept")
        self.assertEqual(rec["auth_user"], "alice@example.test")
        ok = self.sl.wait_decision(lambda r: r.get("client") == "127.0.0.51", event="auth.ok")
        self.assertEqual(ok["mechanism"], "PLAIN")

    def test_swaks_auth_login(self):
        mid = "<swaks-login@client.test>"
        p = run_swaks(["--server", "127.0.0.1:%d" % self.sl.port, "--local-interface", "127.0.0.52", "--tls",
                       "--tls-verify", "--tls-ca-path", self.ca.path, "--tls-sni", "mx.sluice.test",
                       "--auth", "LOGIN", "--auth-user", "alice@example.test", "--auth-password", PASSWORD,
                       "--from", "alice@example.test", "--to", "bob@remote.example", "--helo", "client.test",
                       "--header", "Message-Id: %s" % mid])
        self.assertEqual(p.returncode, 0, p.stdout[-3000:])
        self.pf.wait_for_relayed(mid)
        ok = self.sl.wait_decision(lambda r: r.get("client") == "127.0.0.52", event="auth.ok")
        self.assertEqual((ok["user"], ok["mechanism"]), ("alice@example.test", "LOGIN"))

    def test_wrong_password_and_no_relay_without_auth(self):
        with self.smtp("127.0.0.53") as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                s.login("alice@example.test", "wrong-" + PASSWORD)
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.sendmail("alice@example.test", ["bob@remote.example"], make_message()[1])
        fail = self.sl.wait_decision(lambda r: r.get("client") == "127.0.0.53", event="auth.fail")
        self.assertEqual(fail["user"], "alice@example.test")
        self.assertTrue(fail["reply"].startswith("535"), fail)

    def test_sender_mismatch_refused_before_postfix(self):
        with self.smtp("127.0.0.54") as s:
            s.login("alice@example.test", PASSWORD)
            code, msg = s.mail("ceo@example.test")
            self.assertEqual(code, 553)
            self.assertIn(b"not owned by user alice@example.test", msg)
            s.rset()

    def test_zz_password_in_no_log(self):
        """Runs last (name order): every log and record, Postfix's and Dovecot's included."""
        texts = [self.sl.log_text(), self.pf.maillog(), self.pf.sasl.log()]
        with open(self.sl.decision_log) as f:
            texts.append(f.read())
        for t in texts:
            self.assertNotIn(PASSWORD, t)
        self.assertIn("alice@example.test", texts[0])      # the user is there


if __name__ == "__main__":
    runner.main()
