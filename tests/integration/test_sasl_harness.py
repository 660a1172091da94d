#!/usr/bin/env python3
"""Self-test of the SMTP AUTH fixture, without sluice: PrivateDovecot
(auth-only, passwd-file users) behind PrivatePostfix(sasl=...), driven with
Python's smtplib and RawClient straight at Postfix's port.

- EHLO offers AUTH PLAIN LOGIN; no TLS is needed for it;
- alice@example.test/s3cret gets 235 and may relay to a remote domain;
  Postfix logs sasl_method/sasl_username for the queue file;
- a wrong password or an unknown user gets 535, and relaying stays refused;
- without AUTH, a remote recipient gets 554 5.7.1 Relay access denied
  (loopback is in mynetworks, but that does not permit relaying here);
- after XCLIENT (what sluice sends), AUTH still works, and Dovecot sees the
  real client address;
- Dovecot listens on no TCP port and its socket is Postfix's private/auth.
"""

import base64
import os
import pwd
import smtplib
import stat
import unittest

from harness import runner
from harness.client import RawClient, make_message, smtplib_client
from harness.dovecot import PrivateDovecot
from harness.postfix import PrivatePostfix

NEEDS_POSTFIX = True

USERS = {"alice@example.test": "s3cret", "bob@example.test": "hunter2 with spaces"}


class SaslHarnessTest(unittest.TestCase):
    pf = None
    dc = None

    @classmethod
    def setUpClass(cls):
        runner.require_postfix()
        # no skip for a missing dovecot: PrivateDovecot raises DovecotError
        cls.dc = PrivateDovecot(users=USERS)
        cls.pf = PrivatePostfix(sasl=cls.dc).start()

    @classmethod
    def tearDownClass(cls):
        if cls.pf:
            cls.pf.stop()
        if cls.dc:
            cls.dc.stop()   # no-op: pf.stop() already stopped it

    # ------------------------------------------------------------ plumbing
    def test_dovecot_is_private_and_auth_only(self):
        dc, pf = self.dc, self.pf
        self.assertTrue(dc.started)
        self.assertIsNotNone(dc.pid)
        self.assertEqual(dc.socket_path, os.path.join(pf.queue_dir, "private", "auth"))
        self.assertEqual(pf.postconf("smtpd_sasl_path"), ["private/auth"])
        st = os.stat(dc.socket_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_uid, pwd.getpwnam("postfix").pw_uid)
        self.assertEqual(dc.mechanisms_offered(), ["PLAIN", "LOGIN"])
        self.assertEqual(dc.tcp_listeners(), [])
        conf = open(dc.config_path).read()
        self.assertNotIn("/etc/dovecot", conf)
        self.assertNotIn("/run/dovecot", conf)
        self.assertTrue(os.path.exists(os.path.join(dc.base_dir, "master.pid")))
        self.assertIn("starting up without any protocols", dc.log())

    def test_dovecot_direct_auth(self):
        dc = self.dc
        ok, fields = dc.authenticate("alice@example.test", "s3cret")
        self.assertTrue(ok, fields)
        self.assertEqual(fields.get("user"), "alice@example.test")
        ok, _ = dc.authenticate("bob@example.test", "hunter2 with spaces", mech="LOGIN")
        self.assertTrue(ok)
        off = dc.log_offset()
        ok, _ = dc.authenticate("alice@example.test", "wrong", rip="127.0.0.77")
        self.assertFalse(ok)
        dc.wait_log(r"passwd-file\(alice@example.test,127\.0\.0\.77\): Password mismatch", start=off)
        ok, _ = dc.authenticate("nobody@example.test", "s3cret")
        self.assertFalse(ok)

    # ------------------------------------------------------- through Postfix
    def test_ehlo_offers_auth(self):
        with smtplib_client(self.pf.port) as s:
            code, _ = s.ehlo()
            self.assertEqual(code, 250)
            self.assertTrue(s.has_extn("auth"), s.esmtp_features)
            self.assertEqual(s.esmtp_features["auth"].split(), ["PLAIN", "LOGIN"])
            self.assertFalse(s.has_extn("starttls"))

    def test_auth_plain_relays_and_is_logged(self):
        pf = self.pf
        mid, msg = make_message(mail_from="alice@example.test", to="bob@remote.example")
        with smtplib_client(pf.port, source="127.0.0.5") as s:
            code, text = s.login("alice@example.test", "s3cret")
            self.assertEqual(code, 235, text)
            self.assertEqual(s.sendmail("alice@example.test", ["bob@remote.example"], msg), {})
        qid = pf.queue_id_for(mid)
        self.assertIsNotNone(qid, pf.maillog())
        pf.wait_log(r"%s: client=unknown\[127\.0\.0\.5\], sasl_method=PLAIN, "
                    r"sasl_username=alice@example\.test" % qid)
        info = pf.queue_info()[qid]
        self.assertEqual(info["sasl_username"], "alice@example.test")
        self.assertEqual(info["sasl_method"], "PLAIN")
        # relayed: the `relayed` transport keeps it in the instance
        [m] = pf.wait_for_relayed(mid)
        self.assertTrue(pf.queue_info()[qid]["committed"])   # qmgr has logged it by now (it delivered)
        self.assertEqual(m.mailbox, "bob@remote.example")
        self.assertEqual(m.queue_id, qid)
        self.assertIn(b"Hello.", m.body_bytes())
        pf.wait_log(r"%s: to=<bob@remote\.example>, relay=relayed.*status=sent" % qid)
        self.assertEqual(pf.find_messages(mid), [])   # not in any local mailbox

    def test_auth_login_mechanism(self):
        pf = self.pf
        mid, msg = make_message(mail_from="bob@example.test", to="carol@remote.example")
        with smtplib_client(pf.port, source="127.0.0.6") as s:
            s.ehlo()
            s.user, s.password = "bob@example.test", "hunter2 with spaces"
            code, text = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
            self.assertEqual(code, 235, text)
            self.assertEqual(s.sendmail("bob@example.test", ["carol@remote.example"], msg), {})
        qid = pf.queue_id_for(mid)
        self.assertIsNotNone(qid, pf.maillog())
        info = pf.queue_info()[qid]
        self.assertEqual((info["sasl_method"], info["sasl_username"]), ("LOGIN", "bob@example.test"))
        pf.wait_for_relayed(mid)

    def test_wrong_password_and_unknown_user_get_535(self):
        for user, pw in (("alice@example.test", "not-her-password"), ("mallory@example.test", "x")):
            with smtplib_client(self.pf.port, source="127.0.0.7") as s:
                with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                    s.login(user, pw)
                self.assertEqual(cm.exception.smtp_code, 535)
                # still not allowed to relay
                s.mail("alice@example.test")
                code, text = s.rcpt("bob@remote.example")
                self.assertEqual(code, 554, text)
                self.assertIn(b"Relay access denied", text)
        self.pf.wait_log(r"warning: unknown\[127\.0\.0\.7\]: SASL PLAIN authentication failed")
        self.dc.wait_log(r"passwd-file\(alice@example\.test,127\.0\.0\.7\): Password mismatch")

    def test_unauthenticated_relay_denied_local_ok(self):
        mid, msg = make_message(to="alice@example.test")
        with smtplib_client(self.pf.port, source="127.0.0.8") as s:
            s.ehlo()
            s.mail("sender@client.test")
            code, text = s.rcpt("bob@remote.example")
            self.assertEqual(code, 554, text)
            self.assertIn(b"5.7.1", text)
            self.assertIn(b"Relay access denied", text)
            s.rset()
            # the virtual mailbox domain still takes mail without AUTH
            self.assertEqual(s.sendmail("sender@client.test", ["alice@example.test"], msg), {})
        [m] = self.pf.wait_for_message(mid)
        qid = self.pf.queue_id_for(mid)
        self.assertIsNone(self.pf.queue_info()[qid]["sasl_username"])

    def test_xclient_then_auth(self):
        """What sluice does: XCLIENT with the real client's address, EHLO
        again, then the client's AUTH relayed. Postfix logs the XCLIENT
        address with the SASL user; Dovecot is told the real address."""
        pf, dc = self.pf, self.dc
        mid, msg = make_message(mail_from="alice@example.test", to="dave@remote.example")
        off = dc.log_offset()
        with RawClient(pf.port) as c:
            c.banner()
            c.ehlo("sluice.test")
            c.cmd("XCLIENT ADDR=127.0.0.55 NAME=[UNAVAILABLE] HELO=client.example PROTO=ESMTP",
                  expect=220)
            ehlo = c.ehlo("client.example")
            self.assertIn("AUTH PLAIN LOGIN", ehlo.lines)
            bad = base64.b64encode(b"\0alice@example.test\0nope").decode()
            r = c.cmd("AUTH PLAIN " + bad)
            self.assertEqual(r.code, 535, str(r))
            good = base64.b64encode(b"\0alice@example.test\0s3cret").decode()
            r = c.cmd("AUTH PLAIN " + good)
            self.assertEqual(r.code, 235, str(r))
            c.send_message("alice@example.test", ["dave@remote.example"], msg)
            c.quit()
        qid = pf.queue_id_for(mid)
        self.assertIsNotNone(qid, pf.maillog())
        info = pf.queue_info()[qid]
        self.assertEqual(info["client"], "unknown[127.0.0.55]")
        self.assertEqual(info["sasl_username"], "alice@example.test")
        dc.wait_log(r"passwd-file\(alice@example\.test,127\.0\.0\.55\): Password mismatch", start=off)
        [m] = pf.wait_for_relayed(mid)
        self.assertEqual(m.mailbox, "dave@remote.example")


def _alive(pid):
    """A running (not zombie) process with this pid exists."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class SaslLifecycleTest(unittest.TestCase):
    def test_started_dovecot_is_used_by_path_and_outlives_postfix(self):
        runner.require_postfix()
        with PrivateDovecot(users={"carol@example.test": "pw"}, mechanisms=("plain",)) as dc:
            self.assertEqual(os.path.dirname(dc.socket_path), dc.dir)
            with PrivatePostfix(sasl=dc) as pf:
                self.assertEqual(pf.postconf("smtpd_sasl_path"), [dc.socket_path])
                with smtplib_client(pf.port) as s:
                    s.ehlo()
                    self.assertEqual(s.esmtp_features["auth"].split(), ["PLAIN"])
                    self.assertEqual(s.login("carol@example.test", "pw")[0], 235)
            self.assertTrue(dc.started)
            self.assertEqual(dc.mechanisms_offered(), ["PLAIN"])
            d, pid = dc.dir, dc.pid
        self.assertFalse(os.path.exists(d))
        self.assertFalse(_alive(pid))

    def test_owned_dovecot_stops_with_postfix(self):
        runner.require_postfix()
        dc = PrivateDovecot()
        pf = PrivatePostfix(sasl=dc).start()
        try:
            d, pid, pf_queue = dc.dir, dc.pid, pf.queue_dir
            self.assertTrue(os.path.isdir(d))
            self.assertTrue(_alive(pid))
        finally:
            pf.stop()
        self.assertFalse(dc.started)
        self.assertIsNone(dc.dir)
        self.assertFalse(os.path.exists(d))
        self.assertFalse(_alive(pid))
        self.assertFalse(os.path.exists(os.path.join(pf_queue, "private", "auth")))

    def test_postfix_without_sasl_unchanged(self):
        runner.require_postfix()
        with PrivatePostfix() as pf:
            self.assertEqual(pf.postconf("smtpd_sasl_auth_enable", "smtpd_relay_restrictions"),
                             ["no", "reject_unauth_destination"])
            with smtplib_client(pf.port) as s:
                s.ehlo()
                self.assertFalse(s.has_extn("auth"))


if __name__ == "__main__":
    runner.main()
