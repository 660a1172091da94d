#!/usr/bin/env python3
"""sluice in front of a real Postfix: the invariants a mail administrator
checks in Postfix's own log and mailboxes.

- a message relayed through sluice is delivered, and Postfix saw the real
  client (XCLIENT ADDR/HELO), not sluice's address;
- the client's 250 carries Postfix's queue id, which is also in sluice's
  decision record together with the Message-ID;
- what sluice refuses (bare LF, size, smuggling, a client that vanishes in
  DATA) is never committed by Postfix;
- dot-stuffing and pipelining pass through intact.
"""

import os
import socket
import time
import unittest

from harness import runner
from harness.dnslab import DnsLab
from harness.client import RawClient, make_message, new_message_id, smtplib_client, swaks_send
from harness.postfix import PrivatePostfix
from harness.sluice import Sluice

NEEDS_POSTFIX = True


class PostfixRelayTest(unittest.TestCase):
    pf = None
    sl = None

    @classmethod
    def setUpClass(cls):
        runner.require_postfix()
        runner.require_sluice()
        cls.pf = PrivatePostfix(message_size_limit=10240000).start()
        cls.sl = Sluice(backend=cls.pf, limits={"message_size": "200k"}, workers=2).start()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.sl:
                cls.sl.__exit__(None, None, None)  # stops it and checks for sanitizer reports
        finally:
            if cls.pf:
                cls.pf.stop()

    def test_swaks_delivery_xclient_queue_id(self):
        """swaks -> sluice -> Postfix: delivered; Postfix logs the real client."""
        runner.require_swaks()
        p, mid = swaks_send(self.sl.port, to="alice@example.test", source="127.0.0.23",
                            helo="swaks.client.test", body="through sluice")
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr)
        [m] = self.pf.wait_for_message(mid)
        self.assertEqual(m.mailbox, "alice@example.test")
        self.assertIn(b"through sluice", m.raw)
        qid = self.pf.queue_id_for(mid)
        self.assertIsNotNone(qid, self.pf.maillog())
        # Postfix saw the real client through XCLIENT, not 127.0.0.1
        self.assertEqual(self.pf.queue_info()[qid]["client"], "unknown[127.0.0.23]", self.pf.maillog())
        self.assertIn(b"swaks.client.test", m.raw)   # HELO in Postfix's Received: header
        # the client got Postfix's queue id, and so did the decision log
        self.assertIn("queued as %s" % qid, p.stdout)
        rec = self.sl.wait_decision(lambda r: r.get("msgid") == mid, event="msg.accept")
        self.assertEqual(rec["queue_id"], qid)
        self.assertEqual(rec["client"], "127.0.0.23")
        self.assertEqual(rec["helo"], "swaks.client.test")
        self.assertEqual(rec["from"], "sender@client.test")
        self.assertEqual(rec["rcpts"], ["alice@example.test"])
        self.assertEqual(rec["result"], "accepted")
        self.assertTrue(rec["reply"].startswith("250 "), rec)
        self.assertRegex(rec["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertRegex(rec["sid"], r"^[0-9a-f]{16}$")
        self.assertGreater(rec["size"], 100)

    def test_smtplib_pipelined_multiple_recipients(self):
        """Python smtplib with PIPELINING: one unknown user refused by Postfix, two delivered."""
        mid, msg = make_message(to="alice@example.test")
        with smtplib_client(self.sl.port, source="127.0.0.24") as s:
            code, ehlo = s.ehlo()
            self.assertEqual(code, 250)
            self.assertTrue(s.has_extn("pipelining"))
            refused = s.sendmail("sender@client.test",
                                 ["alice@example.test", "nosuchuser@example.test", "bob@example.test"], msg)
            self.assertEqual(list(refused.keys()), ["nosuchuser@example.test"])
            self.assertEqual(refused["nosuchuser@example.test"][0], 550)
        got = self.pf.wait_for_message(mid, count=2)
        self.assertEqual(sorted(m.mailbox for m in got), ["alice@example.test", "bob@example.test"])
        rec = self.sl.wait_decision(lambda r: r.get("msgid") == mid, event="msg.accept")
        self.assertEqual(sorted(rec["rcpts"]), ["alice@example.test", "bob@example.test"])

    def test_ehlo_hides_backend_extensions(self):
        """Postfix offers XCLIENT/XFORWARD/ETRN/VRFY/CHUNKING: the client sees none."""
        with RawClient(self.sl.port) as c:
            c.banner()
            r = c.ehlo("client.test")
            words = [l.split()[0].upper() for l in r.lines[1:]]
            for hidden in ("XCLIENT", "XFORWARD", "CHUNKING", "ETRN", "VRFY", "STARTTLS", "AUTH"):
                self.assertNotIn(hidden, words, r.lines)
            self.assertIn("PIPELINING", words)
            self.assertIn("SIZE %d" % (200 * 1024), r.lines)
            self.assertEqual(r.lines[0], "mx.sluice.test")
            c.quit()

    def test_dot_stuffing_byte_exact(self):
        """Lines starting with '.' arrive at Postfix exactly as the client meant them."""
        body = ".leading dot\r\n..two dots\r\n.\tdot tab\r\n. \r\nlast\r\n"
        mid, msg = make_message(to="carol@example.test", body=body)
        with RawClient(self.sl.port) as c:
            c.banner()
            c.ehlo()
            c.send_message("sender@client.test", ["carol@example.test"], msg)
            c.quit()
        [m] = self.pf.wait_for_message(mid)
        self.assertIn(b"\n.leading dot\n..two dots\n.\tdot tab\n. \nlast\n", m.raw)

    def test_bare_lf_rejected_never_committed(self):
        """A bare LF in DATA: 550 5.6.0, Postfix never commits it, the session goes on."""
        bad_id, bad = make_message(to="alice@example.test", body=b"line one\nline two\r\n")
        good_id, good = make_message(to="alice@example.test")
        with RawClient(self.sl.port, source="127.0.0.25") as c:
            c.banner()
            c.ehlo()
            replies = c.send_message("sender@client.test", ["alice@example.test"], bad, expect_final=None)
            self.assertEqual(replies[-1].code, 550, replies[-1])
            self.assertEqual(replies[-1].enhanced, "5.6.0")
            # the same session can still send a good message
            replies = c.send_message("sender@client.test", ["alice@example.test"], good)
            self.assertEqual(replies[-1].code, 250)
            c.quit()
        self.pf.wait_for_message(good_id)
        self.pf.assert_not_delivered(bad_id)
        rec = self.sl.wait_decision(lambda r: r.get("msgid") == bad_id, event="msg.reject")
        self.assertEqual(rec["result"], "bare-lf")
        self.assertTrue(rec["reply"].startswith("550 5.6.0"), rec)

    def test_smuggling_never_reaches_postfix(self):
        """'\\r\\n.\\n' followed by a smuggled transaction: nothing of it is delivered."""
        outer = new_message_id()
        smuggled = new_message_id()
        payload = ("Message-ID: %s\r\nSubject: outer\r\n\r\nhello\r\n.\n"
                   "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                   "Message-ID: %s\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n" % (outer, smuggled)).encode()
        with RawClient(self.sl.port) as c:
            c.banner()
            c.ehlo()
            c.cmd("MAIL FROM:<sender@client.test>", expect=250)
            c.cmd("RCPT TO:<alice@example.test>", expect=250)
            c.cmd("DATA", expect=354)
            c.send(payload)
            # only CRLF.CRLF ends DATA: the smuggled commands are message
            # content, and the one message is refused at its real end
            first = c.read_reply()
            self.assertEqual(first.code, 550, first)
            self.assertEqual(first.enhanced, "5.6.0")
            c.cmd("NOOP", expect=250)
            c.quit()
        self.pf.assert_not_delivered(outer)
        self.pf.assert_not_delivered(smuggled)
        self.assertNotIn("evil@attacker.test", self.pf.maillog())

    def test_oversized_message_never_committed(self):
        """Over 'limit message_size': 552 5.3.4 and Postfix does not commit it."""
        mid, msg = make_message(to="bob@example.test", size=300 * 1024)
        with RawClient(self.sl.port) as c:
            c.banner()
            c.ehlo()
            r = c.cmd("MAIL FROM:<sender@client.test> SIZE=%d" % len(msg))
            self.assertEqual((r.code, r.enhanced), (552, "5.3.4"), r)
            replies = c.send_message("sender@client.test", ["bob@example.test"], msg, expect_final=None)
            self.assertEqual((replies[-1].code, replies[-1].enhanced), (552, "5.3.4"), replies[-1])
            c.quit()
        self.pf.assert_not_delivered(mid)

    def test_client_vanishes_in_data(self):
        """The client disconnects mid-DATA: Postfix drops the half message."""
        mid, msg = make_message(to="alice@example.test", size=20000)
        with RawClient(self.sl.port) as c:
            c.banner()
            c.ehlo()
            c.cmd("MAIL FROM:<sender@client.test>", expect=250)
            c.cmd("RCPT TO:<alice@example.test>", expect=250)
            c.cmd("DATA", expect=354)
            c.send(msg[:10000])
            time.sleep(0.3)
        rec = self.sl.wait_decision(event="txn.abort")
        self.assertEqual(rec["from"], "sender@client.test")
        self.pf.assert_not_delivered(mid)
        self.pf.wait_log(r"lost connection after DATA")


class PostfixXclientAttributesTest(unittest.TestCase):
    """Every XCLIENT attribute as Postfix itself reports it: NAME (the
    confirmed PTR name from sluice's rdns filter, DNS served by dnsmasq on
    loopback), ADDR and PORT (smtpd_client_port_logging), HELO and PROTO
    (the Received: header's "from HELO (NAME [ADDR])" and "with ESMTP|SMTP")."""

    def test_name_addr_port_helo_proto_reach_postfix(self):
        runner.require_postfix()
        lab = DnsLab({"unused.test": ("ip4set", "$TTL 300\n127.0.0.250\n")},     # DnsLab wants a zone
                     ptr={"127.0.0.28": "mx.real-client.test"},
                     hosts={"mx.real-client.test": ["127.0.0.28"]}).start()
        self.addCleanup(lab.stop)
        extra = ["dns {", "  servers %s" % lab.server, "  timeout 500ms", "}", "rdns { timeout 2s }"]
        with PrivatePostfix(main_cf={"smtpd_client_port_logging": "yes"}) as pf, \
                Sluice(backend=pf, extra=extra) as sl:
            sent = []
            for src, greet, helo in (("127.0.0.28", "EHLO", "ehlo.real-client.test"),
                                     ("127.0.0.29", "HELO", "helo.other-client.test")):
                mid, msg = make_message(to="alice@example.test")
                with RawClient(sl.port, source=src) as c:
                    c.banner()
                    c.cmd("%s %s" % (greet, helo), expect=250)
                    replies = c.send_message("sender@client.test", ["alice@example.test"], msg)
                    self.assertEqual(replies[-1].code, 250)
                    sent.append((mid, c.local_address[1]))
                    c.quit()
            (mid1, port1), (mid2, port2) = sent
            [m1] = pf.wait_for_message(mid1)
            [m2] = pf.wait_for_message(mid2)
            info = pf.queue_info()
            self.assertEqual(info[pf.queue_id_for(mid1)]["client"], "mx.real-client.test[127.0.0.28]:%d" % port1,
                             pf.maillog())
            self.assertEqual(info[pf.queue_id_for(mid2)]["client"], "unknown[127.0.0.29]:%d" % port2)
            rcv1 = " ".join(str(m1.msg.get_all("Received")[0]).split())
            rcv2 = " ".join(str(m2.msg.get_all("Received")[0]).split())
            self.assertRegex(rcv1, r"^from ehlo\.real-client\.test \(mx\.real-client\.test \[127\.0\.0\.28\]\) .* with ESMTP id ")
            self.assertRegex(rcv2, r"^from helo\.other-client\.test \(unknown \[127\.0\.0\.29\]\) .* with SMTP id ")


class PostfixEndOfDataTest(unittest.TestCase):
    """The hold point: a filter that refuses at end of data (the example
    plugin's reject_at eod) gets the last word; Postfix never commits the
    message it already holds all but the final dot of."""

    def test_refused_at_end_of_data_never_committed(self):
        runner.require_postfix()
        plugin = os.environ.get("SLUICE_EXAMPLE_FILTER", os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "contrib", "filters", "sluice_example.so"))
        extra = ["plugin %s" % plugin, "example {", "  reject_at eod", "}"]
        with PrivatePostfix() as pf, Sluice(backend=pf, extra=extra) as sl:
            mid, msg = make_message(to="alice@example.test", size=20000)
            with RawClient(sl.port, source="127.0.0.27") as c:
                c.banner()
                c.ehlo()
                replies = c.send_message("sender@client.test", ["alice@example.test"], msg, expect_final=None)
                self.assertEqual((replies[-2].code, replies[-1].code), (354, 550), replies)
                self.assertEqual(replies[-1].enhanced, "5.7.1")
                c.cmd("NOOP", expect=250)                          # the session goes on
                c.quit()
            rec = sl.wait_decision(event="policy.reject")
            self.assertEqual((rec["filter"], rec["stage"], rec["msgid"]), ("example", "eod", mid))
            self.assertEqual(rec["example"]["rule"], "reject_at")
            pf.assert_not_delivered(mid)
            pf.wait_log(r"lost connection after DATA")


class PostfixNormaliseTest(unittest.TestCase):
    """bare_lf normalise: the message is delivered with CRLF line ends."""

    def test_normalised_delivery(self):
        runner.require_postfix()
        with PrivatePostfix() as pf, Sluice(backend=pf, bare_lf="normalise") as sl:
            mid, msg = make_message(to="bob@example.test", body=b"one\ntwo\r\nthree\n")
            with RawClient(sl.port) as c:
                c.banner()
                c.ehlo()
                replies = c.send_message("sender@client.test", ["bob@example.test"], msg)
                self.assertEqual(replies[-1].code, 250)
                c.quit()
            [m] = pf.wait_for_message(mid)
            self.assertIn(b"\none\ntwo\nthree\n", m.raw)


class PostfixBackendReuseTest(unittest.TestCase):
    """backend_reuse on: one Postfix connection serves several sessions, and
    XCLIENT gives each message its own real client."""

    def test_reused_connection_keeps_clients_apart(self):
        runner.require_postfix()
        with PrivatePostfix() as pf, Sluice(backend=pf, workers=1, extra=["backend_reuse on"]) as sl:
            mark = len(pf.maillog_lines())
            sent = []
            for src in ("127.0.0.41", "127.0.0.42", "127.0.0.43"):
                mid, msg = make_message(to="alice@example.test")
                with RawClient(sl.port, source=src) as c:
                    c.banner()
                    c.ehlo("h%s.client.test" % src[-2:])
                    replies = c.send_message("s@client.test", ["alice@example.test"], msg)
                    self.assertEqual(replies[-1].code, 250)
                    c.quit()
                sent.append((mid, src))
            for mid, src in sent:
                [m] = pf.wait_for_message(mid)
                qid = pf.queue_id_for(mid)
                self.assertEqual(pf.queue_info()[qid]["client"], "unknown[%s]" % src, pf.maillog())
                self.assertIn(("h%s.client.test" % src[-2:]).encode(), m.raw)
            # all three sessions went over one backend connection
            connects = [l for l in pf.maillog_lines()[mark:] if "connect from" in l and "disconnect" not in l]
            self.assertEqual(len(connects), 1, connects)


class PostfixUnixSocketTest(unittest.TestCase):
    """The backend over a UNIX socket."""

    def test_unix_backend(self):
        runner.require_postfix()
        with PrivatePostfix(unix_socket=True) as pf, Sluice(backend="unix:" + pf.unix_path) as sl:
            mid, msg = make_message(to="carol@example.test")
            with RawClient(sl.port, source="127.0.0.26") as c:
                c.banner()
                c.ehlo()
                c.send_message("sender@client.test", ["carol@example.test"], msg)
                c.quit()
            [m] = pf.wait_for_message(mid)
            qid = pf.queue_id_for(mid)
            self.assertEqual(pf.queue_info()[qid]["client"], "unknown[127.0.0.26]", pf.maillog())


if __name__ == "__main__":
    runner.main()
