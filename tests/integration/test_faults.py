#!/usr/bin/env python3
"""sluice against a misbehaving backend (the scriptable FakeBackend):
odd but legal replies relayed intact, replies split and batched, pipelined
replies kept in order, backend unreachable / dropping / stalling / talking
garbage, bare-LF rejection without a committed backend transaction, the
decision log's queue id and Message-ID, the XCLIENT prelude and the EHLO
capability filter."""

import socket
import time
import unittest

from harness import runner
from harness.cases import HOST, SluiceCase
from harness.util import vmrss_kb
from harness.client import RawClient, ConnectionClosed, make_message, dot_stuff
from harness.fakebackend import (FakeBackend, Reply, Raw, NoReply, Stall, Close, DropAfterData, Seq,
                                 long_reply)
from harness.sluice import Sluice, free_port


def setUpModule():
    runner.require_sluice()


# ------------------------------------------------------------------ replies
class ReplyRelayTest(SluiceCase):

    def test_multiline_reply_with_empty_final_text_relayed_intact(self):
        fb, sl = self.start(script={"MAIL": Reply(["250-2.1.0 first line", "250 "]),
                                    "RCPT": Reply(["250-2.1.5 one", "250-two", "250"])})
        c = self.session(sl)
        r = c.cmd("MAIL FROM:<a@client.test>")
        self.assertEqual(r.raw, b"250-2.1.0 first line\r\n250 \r\n")
        r = c.cmd("RCPT TO:<x@example.test>")
        self.assertEqual(r.raw, b"250-2.1.5 one\r\n250-two\r\n250\r\n")
        # the session still works after the odd replies
        c.cmd("RSET", expect=250)
        self.assertEqual(c.quit().code, 221)

    def test_replies_byte_by_byte_and_split_at_odd_points(self):
        qid = "SPLIT42"
        fb, sl = self.start(
            fb_kw={"greeting": Reply("220 fake.backend.test ESMTP slow", byte_delay=0.002)},
            script={
                "EHLO": Reply(["250-fake.backend.test", "250-PIPELINING", "250-SIZE 10240000",
                               "250 8BITMIME"], split_at=[1, 3, 4, 22, 23, 40], chunk_pause=0.02),
                "MAIL": Reply("250 2.1.0 sender ok", byte_delay=0.003),
                "RCPT": Reply(["250-2.1.5 recipient", "250 2.1.5 ok"], split_at=[3, 4, 19, 20, 21, 24],
                              chunk_pause=0.03),
                "DATA": Reply("354 go ahead", split_at=[2]),
                ".": Reply("250 2.0.0 Ok: queued as %s" % qid, split_at=[29, 33, 34], chunk_pause=0.05),
            }, xclient=False)   # this backend offers no XCLIENT
        c = self.client(sl)
        self.assertEqual(str(c.banner()), "220 %s ESMTP" % HOST)
        ehlo = c.ehlo()
        self.assertEqual(ehlo.lines[0], HOST)
        self.assertIn("PIPELINING", ehlo.lines)
        self.assertEqual(c.cmd("MAIL FROM:<a@client.test>").raw, b"250 2.1.0 sender ok\r\n")
        self.assertEqual(c.cmd("RCPT TO:<x@example.test>").raw, b"250-2.1.5 recipient\r\n250 2.1.5 ok\r\n")
        self.assertEqual(c.cmd("DATA").raw, b"354 go ahead\r\n")
        _mid, msg = make_message()
        c.send(dot_stuff(msg) + b".\r\n")
        self.assertEqual(c.read_reply().raw, b"250 2.0.0 Ok: queued as %s\r\n" % qid.encode())
        # nothing extra arrived (no duplicated or stray fragments)
        self.assertEqual(c.read_available(0.2), b"")
        self.assertEqual(c.quit().code, 221)
        self.assertEqual(fb.connections[0].messages, [msg])

    def test_pipelined_replies_batched_in_one_write(self):
        # MAIL is not answered on its own: the reply to it comes in the same
        # write as the RCPT replies (only possible if sluice pipelined them).
        fb, sl = self.start(script={
            "MAIL": NoReply(),
            "RCPT": [NoReply(), Raw(b"250 2.1.0 sender ok\r\n250-2.1.5 first\r\n250 2.1.5 rcpt one\r\n"
                                    b"550 5.1.1 <b@example.test>: no such user\r\n")],
        })
        c = self.session(sl)
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n")
        r = c.read_replies(3)
        self.assertEqual([x.raw for x in r],
                         [b"250 2.1.0 sender ok\r\n", b"250-2.1.5 first\r\n250 2.1.5 rcpt one\r\n",
                          b"550 5.1.1 <b@example.test>: no such user\r\n"])
        self.assertEqual(c.read_available(0.2), b"")
        self.assertEqual(c.cmd("RSET").code, 250)

    def test_default_batched_replies_full_transaction_in_order(self):
        fb, sl = self.start(fb_kw={"batch_replies": True})
        c = self.session(sl)
        _mid, msg = make_message()
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
               b"RCPT TO:<c@example.test>\r\nDATA\r\n")
        self.assertEqual([x.code for x in c.read_replies(5)], [250, 250, 250, 250, 354])
        c.send(dot_stuff(msg) + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        r = c.read_replies(4)
        self.assertEqual(str(r[0]), "250 2.0.0 Ok: queued as ABC123")
        self.assertEqual([x.code for x in r[1:]], [250, 250, 221])
        self.assert_closed(c)
        self.assertEqual(fb.connections[0].transactions[0]["rcpts"],
                         ["a@example.test", "b@example.test", "c@example.test"])

    def test_pipelined_local_and_backend_rejections_in_order(self):
        # The backend answers slowly, so a locally generated 501 would
        # overtake the relayed replies if sluice did not keep the FIFO.
        fb, sl = self.start(script={
            "MAIL": Reply("250 2.1.0 Ok", delay=0.2),
            "RCPT": [Reply("250 2.1.5 first ok", delay=0.2),
                     Reply("550 5.1.1 <rej@example.test>: Recipient address rejected", delay=0.1),
                     Reply("250 2.1.5 third ok", delay=0.1)],
            "DATA": Reply("354 End data with <CR><LF>.<CR><LF>", delay=0.1),
        })
        c = self.session(sl)
        c.send(b"MAIL FROM:<a@client.test>\r\n"
               b"RCPT TO:<ok1@example.test>\r\n"
               b"RCPT TO:<broken@example.test\r\n"
               b"RCPT TO:<rej@example.test>\r\n"
               b"RCPT TO:<ok2@example.test>\r\n"
               b"DATA\r\n")
        r = c.read_replies(6)
        self.assertEqual([x.code for x in r], [250, 250, 501, 550, 250, 354], [str(x) for x in r])
        self.assertEqual(str(r[1]), "250 2.1.5 first ok")
        self.assertEqual(str(r[3]), "550 5.1.1 <rej@example.test>: Recipient address rejected")
        self.assertEqual(str(r[4]), "250 2.1.5 third ok")
        _mid, msg = make_message()
        c.send(dot_stuff(msg) + b".\r\n")
        self.assertEqual(c.expect(250).text, "2.0.0 Ok: queued as ABC123")
        conn = fb.connections[0]
        self.assertEqual([x for x in conn.commands if x.startswith("RCPT")],
                         ["RCPT TO:<ok1@example.test>", "RCPT TO:<rej@example.test>",
                          "RCPT TO:<ok2@example.test>"])
        self.assertFalse(fb.saw(b"broken@"))
        self.assertEqual(conn.messages, [msg])
        d = sl.wait_decision(event="msg.accept")
        self.assertEqual(d["rcpts"], ["ok1@example.test", "ok2@example.test"])


# ------------------------------------------------------------------ faults
class BackendFaultTest(SluiceCase):

    def test_backend_unreachable_421(self):
        port = free_port()          # nothing listens there
        sl = Sluice(backend="127.0.0.1:%d" % port, hostname=HOST, ready="listen",
                    timeouts={"connect": "1s", "command": "1s"}).start()
        self.addCleanup(sl.__exit__, None, None, None)
        self._sluices.append(sl)
        c = self.client(sl)
        r = c.read_reply()
        self.assertEqual(r.code, 421, str(r))
        self.assertEqual(r.enhanced, "4.4.1")
        self.assert_closed(c)

    def _unreachable(self, backend, connect_timeout):
        sl = Sluice(backend=backend, hostname=HOST, ready="listen", backend_reuse=False,
                    timeouts={"connect": connect_timeout, "command": "1s"}).start()
        self.addCleanup(sl.__exit__, None, None, None)
        self._sluices.append(sl)
        c = self.client(sl)
        t0 = time.monotonic()
        r = c.read_reply(timeout=15)
        self.assertEqual((r.code, r.enhanced), (421, "4.4.1"), str(r))
        self.assert_closed(c)
        err = sl.wait_event("backend.error")
        sl.wait_event("conn.close", client="127.0.0.5", result="backend unavailable")
        return time.monotonic() - t0, err

    def test_backend_connect_that_hangs_421_after_the_connect_timeout(self):
        """The backend's listen queue is full, so SYNs go unanswered: the
        connect timeout (not the kernel's minutes of SYN retries) ends it."""
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)                       # never accepted: one queued connection fills it
        self.addCleanup(lsock.close)
        fillers = []
        for _ in range(3):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(lsock.getsockname())
            fillers.append(f)
            self.addCleanup(f.close)
        time.sleep(0.2)
        took, err = self._unreachable("127.0.0.1:%d" % lsock.getsockname()[1], "2s")
        self.assertGreaterEqual(took, 1.8)              # the connect timeout, not the command one (1s)
        self.assertLess(took, 10)
        self.assertEqual(err["what"], "timeout connecting", err)

    def test_backend_that_never_greets_421_after_the_connect_timeout(self):
        """Connected, but no 220: the greeting is part of connecting (the
        connect timeout, 3s here, not the command timeout, 1s)."""
        fb = FakeBackend(greeting=Stall()).start()
        self.addCleanup(fb.stop)
        took, err = self._unreachable(fb, "3s")
        self.assertGreaterEqual(took, 2.8)
        self.assertLess(took, 10)
        self.assertEqual(err["what"], "timeout waiting for greeting", err)
        self.assertEqual(fb.connections[0].wait_closed(), "peer")

    def test_drop_mid_data_tempfails_and_next_message_reconnects(self):
        fb, sl = self.start(script=[{"DATA": DropAfterData(300)}, {}])
        c = self.session(sl, source="127.0.0.11")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        mid, msg = make_message(size=20000)
        c.send_split(dot_stuff(msg) + b".\r\n", sizes=[200, 400, 5000], pause=0.05)
        r = c.read_reply()
        self.assertEqual(r.code, 451, str(r))
        self.assertEqual(r.enhanced, "4.4.2")
        self.assertEqual(c.read_available(0.2), b"")
        conn0 = fb.connections[0]
        self.assertEqual(conn0.wait_closed(), "drop")
        self.assertEqual(conn0.messages, [])
        d = sl.wait_decision(event="msg.tempfail")
        self.assertEqual(d["msgid"], mid)
        self.assertTrue(d["reply"].startswith("451 4.4.2"), d)
        self.assertEqual([x for x in sl.decisions() if x["event"] == "msg.accept"], [])
        # the session goes on: the next transaction uses a new backend connection
        mid2, msg2 = make_message()
        c.send_message("a@client.test", ["x@example.test"], msg2)
        self.assertEqual(len(fb.connections), 2)
        self.assertEqual(fb.connections[1].messages, [msg2])
        self.assertEqual(c.quit().code, 221)

    def test_drop_after_dot_before_reply_is_451(self):
        for rst in (False, True):
            with self.subTest(rst=rst):
                fb, sl = self.start(script={".": Close(rst=rst)})
                c = self.session(sl)
                mid, msg = make_message()
                replies = c.send_message("a@client.test", ["x@example.test"], msg, expect_final=None)
                self.assertEqual(replies[-1].code, 451, str(replies[-1]))
                self.assertEqual(replies[-1].enhanced, "4.4.2")
                d = sl.wait_decision(event="msg.tempfail")
                self.assertEqual(d["msgid"], mid)
                self.assertFalse(any(x["event"] == "msg.accept" for x in sl.decisions()))
                # a backend that dropped is not a reason to end the client session
                self.assertEqual(c.cmd("NOOP").code, 250)
                self.assertEqual(c.quit().code, 221)

    def test_stall_on_rcpt_451_after_command_timeout(self):
        fb, sl = self.start(script=[{"RCPT": Stall()}, {}])
        c = self.session(sl, source="127.0.0.12")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<x@example.test>", timeout=8)
        self.assertEqual(r.code, 451, str(r))
        self.assertEqual(r.enhanced, "4.4.2")
        fb.connections[0].wait_closed(5)
        # session continues: RSET, then a new transaction on a new connection
        self.assertEqual(c.cmd("RSET").code, 250)
        _mid, msg = make_message()
        c.send_message("a@client.test", ["y@example.test"], msg)
        conn1 = fb.connections[1]
        # the worker already knows the backend's XCLIENT: no second EHLO probe
        self.assertEqual(conn1.verbs[:2], ["XCLIENT", "EHLO"])
        self.assertEqual(conn1.xclient[0]["ADDR"], "127.0.0.12")
        self.assertEqual(conn1.transactions[0]["rcpts"], ["y@example.test"])
        self.assertEqual(c.quit().code, 221)

    def test_drop_on_mail_451_then_retry_reconnects(self):
        fb, sl = self.start(script=[{"MAIL": Close()}, {}])
        c = self.session(sl, source="127.0.0.17")
        r = c.cmd("MAIL FROM:<a@client.test>")
        self.assertEqual(r.code, 451, str(r))
        self.assertEqual(r.enhanced, "4.4.2")
        self.assertEqual(c.cmd("NOOP").code, 250)
        c.cmd("RSET", expect=250)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        self.assertEqual(len(fb.connections), 2)
        self.assertEqual(fb.connections[1].verbs, ["XCLIENT", "EHLO", "MAIL", "RCPT"])
        self.assertEqual(c.quit().code, 221)

    def test_stall_after_dot_451_never_250(self):
        fb, sl = self.start(script={".": Stall()})
        c = self.session(sl)
        mid, msg = make_message()
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        c.send(dot_stuff(msg) + b".\r\n")
        r = c.read_reply(timeout=10)
        self.assertEqual(r.code, 451, str(r))
        self.assertEqual(r.enhanced, "4.4.2")
        d = sl.wait_decision(event="msg.tempfail")
        self.assertEqual(d["msgid"], mid)
        fb.connections[0].wait_closed(5)
        # a late 250 from the backend must not reach the client either
        self.assertEqual(c.read_available(0.3), b"")
        self.assertFalse(any(x["event"] == "msg.accept" for x in sl.decisions()))

    def test_backend_closes_between_transactions_next_mail_reconnects(self):
        fb, sl = self.start(script=[{".": Seq(Reply("250 2.0.0 Ok: queued as FIRST"), Close())},
                                    {"CONNECT": None}])
        c = self.session(sl, source="127.0.0.16")
        _m1, msg1 = make_message()
        self.assertEqual(str(c.send_message("a@client.test", ["x@example.test"], msg1)[-1]),
                         "250 2.0.0 Ok: queued as FIRST")
        fb.connections[0].wait_closed(5)
        time.sleep(0.2)
        _m2, msg2 = make_message()
        replies = c.send_message("a@client.test", ["y@example.test"], msg2, expect_final=None)
        self.assertEqual([x.code for x in replies], [250, 250, 354, 250], [str(x) for x in replies])
        self.assertEqual(fb.connections[1].messages, [msg2])
        self.assertEqual(fb.connections[1].xclient[0]["ADDR"], "127.0.0.16")
        self.assertEqual(c.quit().code, 221)

    def test_backend_421_relayed_and_session_closed(self):
        fb, sl = self.start(script={"MAIL": Seq(Reply("421 4.3.2 backend shutting down"), Close())})
        c = self.session(sl)
        c.send_line("MAIL FROM:<a@client.test>")
        replies = self.read_until_closed(c)
        self.assertEqual([str(x) for x in replies], ["421 4.3.2 backend shutting down"])

    def _protocol_error(self, script, limits=None, cmd="MAIL FROM:<a@client.test>"):
        fb, sl = self.start(script=script, limits=limits or {})
        c = self.session(sl)
        c.send_line(cmd)
        replies = self.read_until_closed(c)
        self.assertTrue(replies, "no reply before the close")
        last = replies[-1]
        self.assertEqual(last.code, 421, [str(x) for x in replies])
        self.assertEqual(last.enhanced, "4.4.2")
        self.assertIn("protocol error", last.text)
        self.assertTrue(c.eof)
        # the garbage itself never reaches the client
        self.assertNotIn(b"garbage", bytes(c.received))
        self.assertNotIn(b"xxxxxxxxxx", bytes(c.received))
        fb.connections[0].wait_closed(5)
        sl.wait_event("conn.close", client="127.0.0.5", result="backend protocol error")
        return replies, fb, sl, sl.wait_event("backend.error")["what"]

    def test_garbage_reply_421_and_close(self):
        replies, _fb, _sl, what = self._protocol_error({"MAIL": Raw(b"\x00\xffgarbage without a code\r\n")})
        self.assertEqual(len(replies), 1)
        self.assertEqual(what, "NUL or bare CR in reply")  # the log says why

    def test_code_change_mid_reply_421_and_close(self):
        replies, _fb, _sl, what = self._protocol_error({"MAIL": Reply(["250-2.1.0 first", "550 5.0.0 garbage"])})
        self.assertEqual(len(replies), 1)
        self.assertEqual(what, "reply code changed within a multi-line reply")  # the log says why

    def test_over_long_reply_421_and_close(self):
        replies, _fb, _sl, what = self._protocol_error({"MAIL": long_reply(250, length=20000, lines=1)},
                                                       limits={"reply_length": 1024})
        self.assertEqual(len(replies), 1)
        self.assertEqual(what, "reply line too long")  # the log says why

    def test_over_long_multiline_reply_421_and_close(self):
        replies, _fb, _sl, what = self._protocol_error({"MAIL": long_reply(250, length=20000, lines=200)},
                                                       limits={"reply_length": 1024})
        self.assertEqual(len(replies), 1)
        self.assertEqual(what, "reply too long")  # the log says why

    def test_unsolicited_reply_421_and_close(self):
        fb, sl = self.start(script={"MAIL": Raw(b"250 2.1.0 Ok\r\n250 2.0.0 unsolicited garbage\r\n")})
        c = self.session(sl)
        c.send_line("MAIL FROM:<a@client.test>")
        replies = self.read_until_closed(c)
        self.assertIn(len(replies), (1, 2), [str(x) for x in replies])
        self.assertEqual(replies[-1].code, 421, [str(x) for x in replies])
        self.assertEqual(replies[-1].enhanced, "4.4.2")
        if len(replies) == 2:
            self.assertEqual(str(replies[0]), "250 2.1.0 Ok")
        self.assertNotIn(b"unsolicited", bytes(c.received))


# --------------------------------------------------------- bare LF / records
class DataIntegrityTest(SluiceCase):

    def _bare_case(self, bad_body, source):
        fb, sl = self.start()
        c = self.session(sl, source=source)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        mid, msg = make_message(body=bad_body)
        c.send(msg + b".\r\n")
        r = c.read_reply()
        self.assertEqual(r.code, 550, str(r))
        self.assertEqual(r.enhanced, "5.6.0")
        conn0 = fb.connections[0]
        conn0.wait_closed(5)
        # the backend never got the end-of-data: no completed message, and
        # the data it did get never contains a CRLF.CRLF
        self.assertEqual(conn0.messages, [])
        self.assertEqual(conn0.raw_data, [])
        self.assertEqual(conn0.transactions, [])
        after_data = bytes(conn0.raw).split(b"DATA\r\n", 1)[-1]
        self.assertNotIn(b"\r\n.\r\n", after_data)
        self.assertNotEqual(conn0.close_reason, "quit")
        d = sl.wait_decision(event="msg.reject")
        self.assertEqual(d["msgid"], mid)
        # a follow-up message in the same session goes through a new connection
        mid2, msg2 = make_message()
        replies = c.send_message("b@client.test", ["y@example.test"], msg2)
        self.assertEqual(replies[-1].code, 250)
        self.assertEqual(len(fb.connections), 2)
        conn1 = fb.connections[1]
        self.assertEqual(conn1.verbs[:2], ["XCLIENT", "EHLO"])
        # the client's own EHLO is replayed before its next transaction
        self.assertIn("EHLO client.test", conn1.commands)
        self.assertLess(conn1.commands.index("EHLO client.test"), conn1.verbs.index("MAIL"))
        self.assertEqual(conn1.xclient[0]["ADDR"], source)
        self.assertEqual(conn1.xclient[0]["HELO"], "client.test")
        self.assertEqual(conn1.messages, [msg2])
        self.assertEqual(conn1.transactions[0]["mail_from"], "b@client.test")
        d2 = sl.wait_decision(event="msg.accept")
        self.assertEqual(d2["msgid"], mid2)
        self.assertEqual(c.quit().code, 221)

    def test_bare_lf_rejected_backend_not_committed_then_new_connection(self):
        self._bare_case(b"line one\r\nbare\nline\r\n", "127.0.0.13")

    def test_bare_cr_rejected_backend_not_committed_then_new_connection(self):
        self._bare_case(b"line one\r\nbare\rline\r\n", "127.0.0.14")

    def test_queue_id_and_message_id_in_decision_log(self):
        fb, sl = self.start(fb_kw={"queue_id": "4XyZ9QueueId"})
        c = self.session(sl, source="127.0.0.15", helo="helo.client.test")
        mid, msg = make_message()
        replies = c.send_message("from@client.test", ["r1@example.test", "r2@example.test"], msg)
        self.assertEqual(str(replies[-1]), "250 2.0.0 Ok: queued as 4XyZ9QueueId")
        d = sl.wait_decision(event="msg.accept")
        self.assertEqual(d["queue_id"], "4XyZ9QueueId")
        self.assertEqual(d["msgid"], mid)
        self.assertEqual(d["from"], "from@client.test")
        self.assertEqual(d["rcpts"], ["r1@example.test", "r2@example.test"])
        self.assertEqual(d["client"], "127.0.0.15")
        self.assertEqual(d["helo"], "helo.client.test")
        self.assertEqual(d["reply"], "250 2.0.0 Ok: queued as 4XyZ9QueueId")
        self.assertEqual(d["size"], len(msg))
        self.assertRegex(d["sid"], r"^[0-9a-f]{16}$")
        self.assertEqual(c.quit().code, 221)


# ------------------------------------------------------ XCLIENT and EHLO
class PreludeTest(SluiceCase):

    def test_backend_reuse_only_after_clean_sessions(self):
        fb, sl = self.start(workers=1, extra=["backend_reuse on"])
        c = self.session(sl, source="127.0.0.33")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.quit()                      # a transaction was open: not reused
        c = self.session(sl, source="127.0.0.34")
        c.quit()                      # clean: kept for the next session
        c = self.session(sl, source="127.0.0.35")
        c.quit()
        fb.wait_connections(2)
        self.assertEqual(len(fb.connections), 2)
        fb.connections[0].wait_closed(5)
        self.assertTrue(fb.connections[0].closed.is_set())
        second = fb.connections[1]
        self.assertEqual([x["ADDR"] for x in second.xclient], ["127.0.0.34", "127.0.0.35"])
        self.assertNotIn("MAIL", second.verbs)

    def test_backend_errors_never_carried_to_the_next_client(self):
        # Postfix counts errors per connection and XCLIENT does not reset them
        fb, sl = self.start(script={"RCPT": "550 5.1.1 <nobody@example.test>: User unknown"},
                            extra=["backend_reuse on"], workers=1)
        c = self.session(sl, source="127.0.0.36")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>").code, 550)
        c.cmd("RSET", expect=250)
        c.quit()
        c = self.session(sl, source="127.0.0.37")
        c.quit()
        fb.wait_connections(2)
        self.assertTrue(fb.connections[0].wait_closed(5))
        self.assertEqual(fb.connections[1].xclient[0]["ADDR"], "127.0.0.37")

    def test_pooled_connection_lost_under_xclient_is_retried_afresh(self):
        # the backend hangs up a reused connection just as it gets the next
        # client's XCLIENT: that client is served on a fresh connection
        # (connection indexes count from fb.clear() after the readiness probe)
        fb, sl = self.start(script=[{"XCLIENT": [None, Close()]}, {}],
                            extra=["backend_reuse on"], workers=1)
        c = self.session(sl, source="127.0.0.41")      # connection 0
        c.quit()
        c = self.session(sl, source="127.0.0.42")      # reuses 0, which hangs up; then 1
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.quit()
        fb.wait_connections(2)
        self.assertEqual(fb.connections[0].verbs.count("XCLIENT"), 2)   # the second one: hung up
        self.assertTrue(fb.connections[0].wait_closed(5))
        self.assertEqual([x["ADDR"] for x in fb.connections[1].xclient], ["127.0.0.42"])
        self.assertEqual(fb.connections[1].verbs[:4], ["XCLIENT", "EHLO", "MAIL", "RCPT"])
        sl.wait_log(r"ev=backend\.retry")

    def test_pooled_connection_the_backend_closed_is_not_handed_out(self):
        # the backend hangs up an idle pooled connection (its own timeout, a
        # restart): the next client must not pay for it with a 421
        fb, sl = self.start(extra=["backend_reuse on"], workers=1)
        c = self.session(sl, source="127.0.0.38")
        c.quit()
        fb.wait_connections(1)
        first = fb.connections[0]
        self.assertEqual([x["ADDR"] for x in first.xclient], ["127.0.0.38"])
        first.sock.shutdown(socket.SHUT_RDWR)  # the FIN leaves now, whatever its thread is doing
        first._close(reason="script")
        for src in ("127.0.0.39", "127.0.0.40"):
            c = self.session(sl, source=src)
            c.cmd("MAIL FROM:<a@client.test>", expect=250)
            c.cmd("RSET", expect=250)
            c.quit()
        fb.wait_connections(2)
        self.assertEqual(len(fb.connections), 2, fb.connections)
        # both later sessions went over the one new connection, none over the dead one
        self.assertEqual([x["ADDR"] for x in fb.connections[1].xclient], ["127.0.0.39", "127.0.0.40"])
        self.assertFalse([l for l in sl.log_lines if "backend.error" in l and "421" in l], sl.log_lines)

    def test_ehlo_probe_once_per_worker_then_xclient_directly(self):
        fb, sl = self.start(workers=1)
        for src in ("127.0.0.31", "127.0.0.32"):
            c = self.session(sl, source=src, helo="h%s.client.test" % src[-2:])
            c.quit()
        fb.wait_connections(2)
        first, second = fb.connections[0], fb.connections[1]
        first.wait_closed(5)
        second.wait_closed(5)
        self.assertEqual(first.verbs[:3], ["EHLO", "XCLIENT", "EHLO"])
        self.assertEqual(second.verbs[:2], ["XCLIENT", "EHLO"])
        self.assertEqual(second.xclient[0]["ADDR"], "127.0.0.32")
        self.assertEqual(second.xclient[0]["HELO"], "h32.client.test")

    def test_xclient_carries_real_client_address_port_helo(self):
        fb, sl = self.start()
        c = self.session(sl, source="127.0.0.23", helo="client.example")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RSET", expect=250)
        conn = fb.connections[0]
        self.assertEqual(conn.commands[0], "EHLO %s" % HOST)
        self.assertEqual(conn.verbs[:3], ["EHLO", "XCLIENT", "EHLO"])
        self.assertEqual(conn.xclient, [{"ADDR": "127.0.0.23", "PORT": str(c.local_address[1]),
                                         "NAME": "[UNAVAILABLE]", "HELO": "client.example",
                                         "PROTO": "ESMTP"}])
        self.assertEqual(conn.commands[2], "EHLO client.example")
        self.assertEqual(conn.helo, "client.example")
        self.assertEqual(c.quit().code, 221)

    def test_xclient_helo_proto_smtp_and_only_advertised_attributes(self):
        kws = ["PIPELINING", "SIZE 10240000", "XCLIENT ADDR HELO PROTO"]
        fb, sl = self.start(fb_kw={"ehlo_keywords": kws})
        c = self.client(sl, source="127.0.0.24")
        c.banner()
        self.assertEqual(str(c.cmd("HELO old.client.test")), "250 %s" % HOST)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        conn = fb.connections[0]
        self.assertEqual(conn.xclient, [{"ADDR": "127.0.0.24", "HELO": "old.client.test", "PROTO": "SMTP"}])
        self.assertEqual(conn.verbs[:4], ["EHLO", "XCLIENT", "HELO", "MAIL"])
        self.assertEqual(conn.commands[2], "HELO old.client.test")
        self.assertEqual(c.quit().code, 221)

    def test_ehlo_capabilities_filtered(self):
        kws = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING",
               "XCLIENT NAME ADDR PROTO HELO PORT", "STARTTLS", "AUTH PLAIN LOGIN", "AUTH=PLAIN",
               "XFORWARD NAME ADDR PROTO HELO", "ETRN", "VRFY", "DSN", "SMTPUTF8", "BINARYMIME"]
        fb, sl = self.start(fb_kw={"ehlo_keywords": kws}, limits={"message_size": "1M"})
        c = self.client(sl)
        c.banner()
        r = c.ehlo()
        self.assertEqual(r.codes, ["250"] * len(r.lines))
        self.assertEqual(r.lines[0], HOST)
        self.assertTrue(r.raw.startswith(b"250-%s\r\n" % HOST.encode()))
        kw = r.lines[1:]
        self.assertEqual(sorted(kw), sorted(["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN",
                                             "SMTPUTF8", "SIZE 1048576"]), r.raw)
        for bad in ("CHUNKING", "XCLIENT", "STARTTLS", "AUTH", "XFORWARD", "ETRN", "BINARYMIME"):
            self.assertNotIn(bad.encode(), r.raw)
        self.assertNotIn(b"fake.backend.test", r.raw)

    def test_ehlo_size_is_the_smaller_of_limit_and_backend(self):
        kws = ["PIPELINING", "SIZE 5000", "8BITMIME"]
        fb, sl = self.start(fb_kw={"ehlo_keywords": kws}, limits={"message_size": "1M"}, xclient=False)
        c = self.client(sl)
        c.banner()
        r = c.ehlo()
        self.assertIn("SIZE 5000", r.lines)
        self.assertEqual(len([x for x in r.lines if x.startswith("SIZE")]), 1)

    def test_xclient_on_but_not_offered_fails_closed(self):
        # relaying as sluice's own (often trusted) address would be an open relay
        fb, sl = self.start(fb_kw={"ehlo_keywords": ["PIPELINING", "8BITMIME"]})
        c = self.client(sl)
        c.banner()
        r = c.cmd("EHLO client.test")
        self.assertEqual((r.code, r.enhanced), (421, "4.4.2"), r)
        self.assert_closed(c)
        self.assertNotIn("MAIL", fb.all_verbs())
        sl.wait_event("backend.xclient", what="not offered")

    def test_xclient_refused_fails_closed(self):
        fb, sl = self.start(script={"XCLIENT": "550 5.7.0 Error: insufficient authorization"})
        c = self.client(sl)
        c.banner()
        r = c.cmd("EHLO client.test")
        self.assertEqual(r.code, 421, r)
        self.assert_closed(c)
        self.assertNotIn("MAIL", fb.all_verbs())


class TransactionBookkeepingTest(SluiceCase):
    """Late replies belong to the transaction that sent their command."""

    def test_late_mail_failure_does_not_reset_the_next_transaction(self):
        fb, sl = self.start(script={"MAIL": ["555 5.5.4 Unsupported option: FOO=bar", None]},
                            extra=["backend_reuse on"], workers=1)
        c = self.session(sl, source="127.0.0.61")
        c.send(b"MAIL FROM:<a@client.test> FOO=bar\r\nRSET\r\nMAIL FROM:<good@client.test>\r\n")
        self.assertEqual([r.code for r in c.read_replies(3)], [555, 250, 250])
        self.assertEqual(c.cmd("RCPT TO:<x@example.test>").code, 250)
        _mid, msg = make_message()
        c.cmd("DATA", expect=354)
        c.send(dot_stuff(msg) + b".\r\n")
        self.assertEqual(c.read_reply().code, 250)
        rec = sl.wait_decision(event="msg.accept")
        self.assertEqual((rec["from"], rec["rcpts"]), ("good@client.test", ["x@example.test"]))
        c.quit()

    def test_open_transaction_never_pooled(self):
        fb, sl = self.start(extra=["backend_reuse on"], workers=1)
        c = self.session(sl, source="127.0.0.62")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.quit()
        c = self.session(sl, source="127.0.0.63")
        c.quit()
        fb.wait_connections(2)
        self.assertEqual(fb.connections[1].xclient[0]["ADDR"], "127.0.0.63")
        self.assertTrue(fb.connections[0].wait_closed(5))

    def test_backend_hangs_up_after_mail_gives_451_not_503(self):
        fb, sl = self.start(script=[{"MAIL": Close(send="250 2.1.0 Ok")}, {}])
        c = self.session(sl, source="127.0.0.64")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        fb.connections[0].wait_closed(5)
        time.sleep(0.3)
        r = c.cmd("RCPT TO:<x@example.test>")
        self.assertEqual(r.code, 451, r)
        r = c.cmd("DATA")
        self.assertEqual(r.code, 451, r)
        c.cmd("RSET", expect=250)
        replies = c.send_message("a@client.test", ["x@example.test"], make_message()[1])
        self.assertEqual(replies[-1].code, 250)

    def test_many_long_recipients_still_logged(self):
        fb, sl = self.start()
        c = self.session(sl, source="127.0.0.65")
        rcpts = ["%s%02d@example.test" % ("r" * 230, i) for i in range(50)]
        mid, msg = make_message()
        replies = c.send_message("a@client.test", rcpts, msg, pipelined=True)
        self.assertEqual(replies[-1].code, 250)
        rec = sl.wait_decision(event="msg.accept")
        self.assertEqual(rec["msgid"], mid)
        self.assertEqual(rec["nrcpt"], 50)
        self.assertEqual(rec.get("truncated"), "rcpts")
        self.assertTrue(0 < len(rec["rcpts"]) < 50)
        self.assertEqual(sl.events("log.overflow"), [])


class UnreadRepliesTest(SluiceCase):
    def test_reply_flood_without_reading_stays_bounded(self):
        fb, sl = self.start(timeouts={"command": "1s", "idle": "30s", "data": "3s"})
        c = self.session(sl, source="127.0.0.66")
        base = vmrss_kb(sl.pid)
        c.sock.settimeout(0.5)
        chunk = b"HELP\r\n" * 10000
        deadline = time.monotonic() + 6
        sent = 0
        try:
            while time.monotonic() < deadline:
                sent += c.sock.send(chunk)
        except (socket.timeout, BlockingIOError, OSError):
            pass
        time.sleep(0.5)
        self.assertLess(vmrss_kb(sl.pid), base + 32 * 1024, "sluice grew with unread replies")
        self.assertLess(sent, 100 * 1024 * 1024)


if __name__ == "__main__":
    runner.main()
