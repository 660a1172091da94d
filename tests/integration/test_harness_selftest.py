#!/usr/bin/env python3
"""Self-test of the integration harness, without sluice:
PrivatePostfix (swaks delivery, queue ids, XCLIENT, limits, concurrency)
and FakeBackend (pipelining, odd replies, faults) driven by RawClient."""

import os
import socket
import time
import unittest

from harness import runner
from harness.client import (RawClient, ConnectionClosed, make_message, new_message_id,
                            smtplib_client, swaks_send, dot_stuff)
from harness.fakebackend import (FakeBackend, Reply, Raw, NoReply, Stall, Close, DropAfterData,
                                 Seq, long_reply)
from harness.postfix import PrivatePostfix
from harness.util import make_tempdir, remove_tree

NEEDS_POSTFIX = True


class PrivatePostfixTest(unittest.TestCase):
    pf = None

    @classmethod
    def setUpClass(cls):
        runner.require_postfix()
        runner.require_swaks()
        cls.pf = PrivatePostfix().start()

    @classmethod
    def tearDownClass(cls):
        if cls.pf:
            cls.pf.stop()

    def test_swaks_delivery_and_queue_id(self):
        pf = self.pf
        p, mid = swaks_send(pf.port, to="alice@example.test", body="selftest body")
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr)
        self.assertIn("250 2.0.0 Ok: queued as", p.stdout)
        [m] = pf.wait_for_message(mid)
        self.assertEqual(m.mailbox, "alice@example.test")
        self.assertIn(b"selftest body", m.raw)
        qid = pf.queue_id_for(mid)
        self.assertIsNotNone(qid, pf.maillog())
        self.assertEqual(m.queue_id, qid)
        self.assertIn(qid, pf.queue_ids())
        self.assertIn("queued as %s" % qid, p.stdout)
        info = pf.queue_info()[qid]
        self.assertEqual(info["client"], "unknown[127.0.0.1]")
        self.assertTrue(info["committed"])
        pf.wait_log(r"%s: to=<alice@example.test>.*status=sent" % qid)

    def test_unknown_recipient_rejected_at_rcpt(self):
        with RawClient(self.pf.port) as c:
            c.banner()
            c.ehlo()
            c.cmd("MAIL FROM:<s@client.test>", expect=250)
            r = c.cmd("RCPT TO:<nosuchuser@example.test>")
            self.assertEqual(r.code, 550, str(r))
            self.assertEqual(r.enhanced, "5.1.1")
            r = c.cmd("RCPT TO:<x@elsewhere.test>")
            self.assertEqual(r.code, 554, str(r))
            c.quit()

    def test_xclient_honoured(self):
        pf = self.pf
        mid, msg = make_message(to="bob@example.test")
        with RawClient(pf.port, source="127.0.0.9") as c:
            c.banner()
            ehlo = c.ehlo("sluice.test")
            self.assertTrue(any(l.startswith("XCLIENT") for l in ehlo.lines), str(ehlo))
            r = c.cmd("XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE] HELO=foo.example PROTO=ESMTP")
            self.assertEqual(r.code, 220, str(r))
            c.ehlo("foo.example")
            replies = c.send_message("s@client.test", ["bob@example.test"], msg, pipelined=True)
            self.assertEqual([x.code for x in replies], [250, 250, 354, 250])
            c.quit()
        [m] = pf.wait_for_message(mid)
        qid = pf.queue_id_for(mid)
        self.assertEqual(pf.queue_info()[qid]["client"], "unknown[192.0.2.7]")
        self.assertIn("(unknown [192.0.2.7])", str(m.msg["Received"]))
        self.assertIn("from foo.example", str(m.msg["Received"]))

    def test_smtplib_two_recipients(self):
        mid, msg = make_message(to="carol@example.test")
        with smtplib_client(self.pf.port) as s:
            refused = s.sendmail("s@client.test", ["carol@example.test", "alice@example.test"], msg)
            self.assertEqual(refused, {})
        found = self.pf.wait_for_message(mid, count=2)
        self.assertEqual(sorted(m.mailbox for m in found), ["alice@example.test", "carol@example.test"])

    def test_no_dns_configuration(self):
        pf = self.pf
        self.assertEqual(pf.postconf("smtp_dns_support_level", "smtpd_peername_lookup",
                                     "inet_protocols", "relayhost"),
                         ["disabled", "no", "ipv4", ""])
        with open(os.path.join(pf.config_dir, "master.cf")) as f:
            master = f.read()
        services = [ln.split()[0] for ln in master.splitlines() if ln and not ln[0].isspace()
                    and not ln.startswith("#")]
        self.assertNotIn("smtp", services)
        self.assertNotIn("lmtp", services)
        self.assertNotIn("25", " ".join(services).split(":"))
        self.assertEqual([s for s in services if "inet" in s or ":" in s], ["127.0.0.1:%d" % pf.port])


class ConcurrentPostfixTest(unittest.TestCase):
    def setUp(self):
        runner.require_postfix()

    def test_two_instances_size_limit_unix_socket_and_cleanup(self):
        with PrivatePostfix(message_size_limit=4000, unix_socket=True) as a, \
                PrivatePostfix(users=["dave"]) as b:
            self.assertNotEqual(a.port, b.port)
            self.assertNotEqual(a.syslog_name, b.syslog_name)
            # a: oversized message refused (SIZE in MAIL and at end of data)
            with RawClient(a.port) as c:
                c.banner()
                c.ehlo()
                r = c.cmd("MAIL FROM:<s@client.test> SIZE=100000")
                self.assertEqual(r.code, 552, str(r))
                c.cmd("RSET", expect=250)
                _mid, big = make_message(size=10000)
                replies = c.send_message("s@client.test", "alice@example.test", big, expect_final=None)
                self.assertEqual(replies[-1].code, 552, str(replies[-1]))
                c.quit()
            # a: delivery over the UNIX socket, with XCLIENT
            mid_a, msg = make_message()
            with RawClient(unix_path=a.unix_path) as c:
                c.banner()
                c.ehlo()
                c.cmd("XCLIENT ADDR=198.51.100.4 NAME=client.example", expect=220)
                c.ehlo()
                c.send_message("s@client.test", "alice@example.test", msg)
                c.quit()
            # b: only dave exists
            mid_b, msg = make_message(to="dave@example.test")
            with RawClient(b.port) as c:
                c.banner()
                c.ehlo()
                c.cmd("MAIL FROM:<s@client.test>", expect=250)
                c.cmd("RCPT TO:<alice@example.test>", expect=550)
                c.cmd("RSET", expect=250)
                c.send_message("s@client.test", "dave@example.test", msg)
                c.quit()
            a.wait_for_message(mid_a)
            b.wait_for_message(mid_b)
            self.assertEqual(a.queue_info()[a.queue_id_for(mid_a)]["client"],
                             "client.example[198.51.100.4]")
            self.assertEqual(a.find_messages(mid_b), [])
            self.assertEqual(b.find_messages(mid_a), [])
            self.assertNotIn(b.syslog_name, a.maillog())
            a.assert_not_delivered(new_message_id(), settle=0)
            a_dir, a_qdir = a.dir, a.queue_dir
            a.stop()
            self.assertFalse(os.path.exists(a_dir) and not os.environ.get("SLUICE_TEST_KEEP"))
            # b still works after a stopped
            p, mid = swaks_send(b.port, to="dave@example.test")
            self.assertEqual(p.returncode, 0, p.stdout[-1500:])
            b.wait_for_message(mid)
        # no processes left with cwd in the old queue dirs
        left = []
        for e in os.listdir("/proc"):
            if e.isdigit():
                try:
                    if os.readlink("/proc/%s/cwd" % e).startswith(a_qdir):
                        left.append(e)
                except OSError:
                    pass
        self.assertEqual(left, [])


class FakeBackendTest(unittest.TestCase):
    def start(self, **kw):
        fb = FakeBackend(**kw).start()
        self.addCleanup(fb.stop)
        return fb

    def client(self, fb, **kw):
        c = RawClient(fb.port, **kw)
        self.addCleanup(c.close)
        return c

    def test_defaults_and_pipelining_in_order(self):
        fb = self.start(script={"RCPT": ["250 2.1.5 Ok", "550 5.1.1 <b@example.test>: no such user",
                                         None]})
        c = self.client(fb)
        self.assertEqual(c.banner().code, 220)
        ehlo = c.ehlo()
        for kw in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING",
                   "XCLIENT", "STARTTLS", "AUTH PLAIN", "XFORWARD"):
            self.assertTrue(any(l.startswith(kw) for l in ehlo.lines), kw)
        _mid, msg = make_message()
        c.send(b"MAIL FROM:<s@client.test>\r\nRCPT TO:<a@example.test>\r\n"
               b"RCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
        codes = [r.code for r in c.read_replies(5)]
        self.assertEqual(codes, [250, 250, 550, 250, 354])
        c.send(dot_stuff(msg) + b".\r\nQUIT\r\n")
        r = c.read_reply()
        self.assertEqual(str(r), "250 2.0.0 Ok: queued as ABC123")
        self.assertEqual(c.read_reply().code, 221)
        self.assertTrue(c.wait_closed(5))
        [conn] = fb.wait_connections(1)
        conn.wait_closed()
        self.assertEqual(conn.verbs, ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA", "QUIT"])
        self.assertEqual(conn.transactions[0]["rcpts"], ["a@example.test", "c@example.test"])
        self.assertEqual(conn.messages, [msg])
        self.assertEqual(conn.close_reason, "quit")

    def test_empty_final_text_and_code_change_and_long(self):
        fb = self.start(script={"EHLO": Reply(["250-fake.test", "250-PIPELINING", "250 "]),
                                "NOOP": Reply(["250-first", "550 second"]),
                                "HELP": long_reply(214, length=20000, lines=4),
                                "VRFY": Raw(b"\x00\xffgarbage without code\r\n")})
        c = self.client(fb)
        c.banner()
        r = c.ehlo()
        self.assertTrue(r.raw.endswith(b"250-PIPELINING\r\n250 \r\n"), r.raw)
        self.assertEqual(r.lines[-1], "")
        r = c.cmd("NOOP")
        self.assertEqual(r.codes, ["250", "550"])
        r = c.cmd("HELP")
        self.assertEqual(len(r.lines), 4)
        self.assertGreater(len(r.raw), 20000)
        r = c.cmd("VRFY x")
        self.assertEqual(r.raw, b"\x00\xffgarbage without code\r\n")
        self.assertEqual(r.code, -1)

    def test_byte_by_byte_and_split_replies(self):
        fb = self.start(greeting=Reply("220 slow.test ESMTP", byte_delay=0.01),
                        script={"NOOP": Reply("250 2.0.0 split reply", split_at=[1, 2, 3, 10],
                                              chunk_pause=0.05)})
        c = self.client(fb)
        t0 = time.monotonic()
        r = c.banner()
        self.assertEqual(str(r), "220 slow.test ESMTP")
        self.assertGreater(time.monotonic() - t0, 0.1)  # 20 bytes, 10 ms apart
        t0 = time.monotonic()
        self.assertEqual(str(c.cmd("NOOP")), "250 2.0.0 split reply")
        self.assertGreater(time.monotonic() - t0, 0.15)

    def test_several_replies_in_one_write(self):
        fb = self.start(script={"MAIL": Raw(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"), "RCPT": NoReply()})
        c = self.client(fb)
        c.banner()
        c.ehlo()
        c.send_line("MAIL FROM:<a@client.test>")
        time.sleep(0.2)
        data = c.read_available(0.3)
        self.assertEqual(data, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
        c.send_line("RCPT TO:<x@example.test>")
        self.assertEqual(c.read_available(0.3), b"")

    def test_drop_mid_data(self):
        fb = self.start(script={"DATA": DropAfterData(100)})
        c = self.client(fb)
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        _mid, msg = make_message(size=3000)
        try:
            c.send_split(msg, sizes=[60, 60], pause=0.1)
        except OSError:
            pass
        self.assertTrue(c.wait_closed(5))
        conn = fb.connections[0]
        self.assertEqual(conn.wait_closed(), "drop")
        self.assertEqual(conn.partial_data, msg[:100])
        self.assertEqual(conn.messages, [])

    def test_stall_and_close(self):
        fb = self.start(script=[{"MAIL": Stall()}, {"CONNECT": Close()},
                                {"QUIT": Seq(Reply("221 bye"), Close(rst=True))}])
        c = self.client(fb)
        c.banner()
        c.ehlo()
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<x@example.test>\r\n")
        with self.assertRaises((socket.timeout, TimeoutError)):
            c.read_reply(timeout=0.5)
        fb.connections[0].wait_verb("MAIL")
        self.assertIn(b"RCPT TO:<x@example.test>", bytes(fb.connections[0].raw))
        c2 = self.client(fb)
        with self.assertRaises(ConnectionClosed):
            c2.read_reply(timeout=5)
        c3 = self.client(fb)
        c3.banner()
        self.assertEqual(c3.cmd("QUIT").code, 221)
        self.assertTrue(c3.wait_closed(5))

    def test_end_of_data_only_on_crlf_dot_crlf(self):
        fb = self.start()
        c = self.client(fb)
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        body = b"Subject: t\r\n\r\nline\n.\nnot the end\r.\r\nstill not\r\n.\rno\r\n..stuffed\r\n"
        c.send(body)
        self.assertEqual(c.read_available(0.3), b"")  # nothing above ended the data
        c.send(b".\r\n")
        self.assertEqual(c.read_reply().code, 250)
        conn = fb.connections[0]
        # transparency: a leading '.' is removed from every line that has one
        self.assertEqual(conn.messages, [body.replace(b"\r\n..stuffed", b"\r\n.stuffed")
                                         .replace(b"\r\n.\rno", b"\r\n\rno")])
        # an empty message is just '.'
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        c.cmd(".", expect=250)
        self.assertEqual(conn.messages[1], b"")

    def test_xclient_auth_bdat_recorded(self):
        fb = self.start(queue_id=lambda conn, n: "Q%d" % n)
        c = self.client(fb, source="127.0.0.7")
        c.banner()
        c.ehlo("proxy.test")
        c.cmd("XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE] HELO=foo+2Eexample PROTO=ESMTP", expect=220)
        c.ehlo("foo.example")
        c.cmd("AUTH PLAIN AHVzZXIAc2VjcmV0", expect=235)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.send(b"BDAT 5\r\nhelloBDAT 6 LAST\r\n world")
        r1, r2 = c.read_replies(2)
        self.assertEqual(r1.code, 250)
        self.assertEqual(str(r2), "250 2.0.0 Ok: queued as Q1")
        conn = fb.connections[0]
        self.assertEqual(conn.peer[0], "127.0.0.7")
        self.assertEqual(conn.xclient, [{"ADDR": "192.0.2.7", "NAME": "[UNAVAILABLE]",
                                         "HELO": "foo.example", "PROTO": "ESMTP"}])
        self.assertEqual(conn.auth, [("PLAIN", "", "user")])
        self.assertNotIn("secret", repr(conn.auth))
        self.assertEqual(conn.messages, [b"hello world"])
        self.assertEqual(conn.helo, "foo.example")

    def test_unix_socket_backend(self):
        d = make_tempdir("sluice-fb-")
        self.addCleanup(remove_tree, d)
        fb = self.start(unix_path=os.path.join(d, "smtp.sock"))
        self.assertTrue(fb.address.startswith("unix:"))
        c = RawClient(unix_path=fb.unix_path)
        self.addCleanup(c.close)
        c.banner()
        c.ehlo()
        self.assertEqual(c.quit().code, 221)


if __name__ == "__main__":
    runner.main()
