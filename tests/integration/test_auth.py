#!/usr/bin/env python3
"""AUTH relayed by sluice: offered over TLS only (by default), the user name
learned from PLAIN and LOGIN, passwords never logged, failures counted per
client address, the sender checked against the user's addresses, XCLIENT
LOGIN= on a new backend connection, DNS-list verdicts skipped. The SASL
mechanics run against the scriptable backend here; test_auth_postfix.py
does the same against a real Postfix with Dovecot SASL."""

import base64
import os
import re
import socket
import ssl
import time
import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.certs import TestCA
from harness.client import make_message
from harness.util import make_tempdir, remove_tree, wait_until

PASSWORD = "Tr0ub4dor&3-unique-password"


def plain(user, password=PASSWORD, authz=""):
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, password)).encode()).decode()


class AuthCase(SluiceCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = make_tempdir("sluice-auth-")
        os.chmod(cls.dir, 0o755)
        cls.ca = TestCA(cls.dir)
        cls.cert, cls.key = cls.ca.issue("mx.sluice.test", ["mx.sluice.test"])
        cls.senders = os.path.join(cls.dir, "senders")
        with open(cls.senders, "w") as f:
            f.write("# user  addresses\nalice@example.test  alice@example.test, @alice.example\n")

    @classmethod
    def tearDownClass(cls):
        remove_tree(cls.dir)

    def start_auth(self, *extra, **kw):
        lines = ["tls {", "  certificate %s %s" % (self.cert, self.key), "}"] + list(extra)
        return self.start(extra=lines, **kw)

    def assert_no_password_anywhere(self, sl, fb=None):
        logs = sl.log_text()
        with open(sl.decision_log) as f:
            logs += f.read()
        for needle in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode()[:12]):
            self.assertNotIn(needle, logs)

    def tls_session(self, sl, source="127.0.0.5"):
        c = self.session(sl, source=source)
        c.cmd("STARTTLS", expect=220)
        c.sock = ssl.create_default_context(cafile=self.ca.path).wrap_socket(c.sock, server_hostname="mx.sluice.test")
        c.buf = b""
        return c


class TestOffer(AuthCase):
    def test_auth_only_over_tls_by_default(self):
        fb, sl = self.start_auth()
        c = self.client(sl)
        c.banner()
        r = c.cmd("EHLO client.test", expect=250)
        self.assertNotIn("AUTH", r.text)
        c.cmd("AUTH PLAIN " + plain("alice@example.test"), expect=503)
        c = self.tls_session(sl)
        r = c.cmd("EHLO client.test", expect=250)
        self.assertIn("AUTH PLAIN", r.text)                    # the backend's mechanisms
        c.cmd("AUTH PLAIN " + plain("alice@example.test"), expect=235)
        rec = sl.wait_decision(event="auth.ok")
        self.assertEqual((rec["user"], rec["mechanism"], rec["client"]), ("alice@example.test", "PLAIN", "127.0.0.5"))
        self.assertEqual(fb.wait_connections(1)[-1].auth[-1][2], "alice@example.test")
        c.cmd("AUTH PLAIN " + plain("bob@example.test"), expect=503)   # already authenticated
        c.quit()
        close = sl.wait_event("conn.close", auth_user="alice@example.test")
        self.assert_no_password_anywhere(sl)

    def test_offer_never(self):
        fb, sl = self.start_auth("auth offer never")
        c = self.tls_session(sl)
        r = c.cmd("EHLO client.test", expect=250)
        self.assertNotIn("AUTH", r.text)
        c.cmd("AUTH PLAIN " + plain("alice@example.test"), expect=503)
        self.assertEqual(fb.wait_connections(1)[-1].auth, [])


class TestExchange(AuthCase):
    def test_plain_with_a_challenge_and_the_user_learned(self):
        fb, sl = self.start_auth("auth offer always")
        c = self.session(sl)
        c.cmd("AUTH PLAIN", expect=334)
        c.cmd(plain("alice@example.test"), expect=235)
        c.send_message("alice@example.test", ["bob@remote.example"], make_message()[1])
        rec = sl.wait_decision(event="msg.accept")
        self.assertEqual(rec["auth_user"], "alice@example.test")
        self.assert_no_password_anywhere(sl)

    def test_cancel_and_failure(self):
        fb, sl = self.start_auth("auth offer always")
        c = self.session(sl)
        c.cmd("AUTH PLAIN", expect=334)
        c.cmd("*", expect=501)
        c.cmd("AUTH PLAIN !!notbase64", expect=535)
        c.cmd("NOOP", expect=250)                                # a command again, not a response
        rec = sl.wait_decision(event="auth.fail")
        self.assertEqual(rec["mechanism"], "PLAIN")

    def test_unsupported_mechanism_and_syntax(self):
        fb, sl = self.start_auth("auth offer always")
        c = self.session(sl)
        c.cmd("AUTH", expect=501)
        c.cmd("AUTH CRAM-MD5", expect=504)                       # the backend's answer
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("AUTH PLAIN " + plain("alice@example.test"), expect=503)   # inside a transaction

    def test_too_many_failures_block_the_address(self):
        fb, sl = self.start_auth("auth offer always", "auth max_failures 2", "auth block_time 30s")
        c = self.session(sl, source="127.0.0.7")
        c.cmd("AUTH PLAIN !!bad", expect=535)
        c.send_line("AUTH PLAIN !!bad")
        replies = self.read_until_closed(c)
        self.assertEqual([r.code for r in replies], [535, 421])
        self.assertIn("too many failed authentications", replies[-1].text)
        c2 = self.client(sl, source="127.0.0.7")                 # blocked at connect
        self.assertEqual(c2.read_reply().code, 421)
        c3 = self.session(sl, source="127.0.0.8")                # another address is not
        c3.cmd("NOOP", expect=250)


class TestPolicy(AuthCase):
    def test_sender_must_be_the_users(self):
        fb, sl = self.start_auth("auth offer always", "auth senders %s" % self.senders)
        c = self.session(sl)
        c.cmd("AUTH PLAIN " + plain("alice@example.test"), expect=235)
        r = c.cmd("MAIL FROM:<ceo@example.test>", expect=553)
        self.assertIn("not owned by user alice@example.test", r.text)
        c.cmd("MAIL FROM:<anything@alice.example>", expect=250)
        c.cmd("RSET", expect=250)
        c.cmd("MAIL FROM:<Alice@Example.Test>", expect=250)
        rec = sl.wait_decision(event="auth.sender_mismatch")
        self.assertEqual((rec["user"], rec["from"]), ("alice@example.test", "ceo@example.test"))
        self.assertNotIn("ceo@example.test", [m for cn in fb.wait_connections(1) for m in [cn.mail_from]])

    def test_unauthenticated_clients_are_not_checked(self):
        fb, sl = self.start_auth("auth offer always", "auth senders %s" % self.senders)
        c = self.session(sl)
        c.cmd("MAIL FROM:<ceo@example.test>", expect=250)

    def test_login_travels_in_xclient_after_a_reconnect(self):
        fb, sl = self.start_auth("auth offer always")
        c = self.session(sl)
        c.cmd("AUTH PLAIN " + plain("alice@example.test"), expect=235)
        c.cmd("MAIL FROM:<alice@example.test>", expect=250)
        c.cmd("RCPT TO:<bob@remote.example>", expect=250)
        c.cmd("DATA", expect=354)
        c.send(b"Subject: x\r\n\r\nbare\nLF\r\n.\r\n")           # refused: the backend connection is dropped
        self.assertEqual(c.read_reply().code, 550)
        c.cmd("MAIL FROM:<alice@example.test>", expect=250)      # a new backend connection
        conns = fb.wait_connections(2)
        self.assertEqual(conns[1].xclient[0].get("LOGIN"), "alice@example.test")
        self.assertNotIn("LOGIN", conns[0].xclient[0])


if __name__ == "__main__":
    runner.main()
