#!/usr/bin/env python3
"""A filter loaded from a shared object (contrib/filters/example_filter.c,
built by meson) goes through the same chain as the built-in filters: its
verdicts, its facts and evidence in the decision record, its ABI checked by
sluice -t, and a filter that fails or never answers does not take the
session or the daemon down: its on_error action happens."""

import glob
import os
import socket
import time
import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.client import dot_stuff, make_message
from harness.sluice import check_config
from harness.util import wait_until

PLUGIN = os.environ.get("SLUICE_EXAMPLE_FILTER", os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                                "contrib", "filters", "sluice_example.so"))
BADABI = os.environ.get("SLUICE_EXAMPLE_FILTER_BADABI", PLUGIN.replace("sluice_example.so",
                                                                       "sluice_example_badabi.so"))


class PluginTest(SluiceCase):
    @staticmethod
    def body_at_backend(fb, msg):
        """The whole body reached the backend (all but the dot): the vote is on."""
        wait_until(lambda: bytes(fb.connections[0].raw).endswith(dot_stuff(msg)), timeout=10,
                   what="the message body at the backend")
        time.sleep(0.1)

    def in_data(self, head, *body, source="127.0.0.5"):
        """The plugin configured, a session up to DATA's 354; returns fb, sl, client, Message-ID, message."""
        fb, sl = self.start_plugin(head, *body)
        c = self.session(sl, source=source)
        mid, msg = make_message(to="alice@example.test")
        for cmd in ("MAIL FROM:<a@client.test>", "RCPT TO:<alice@example.test>"):
            c.cmd(cmd, expect=250)
        c.cmd("DATA", expect=354)
        return fb, sl, c, mid, msg

    def start_plugin(self, head, *body):
        return self.start(extra=["plugin %s" % PLUGIN, head + " {"] + ["  " + b for b in body] + ["}"])

    def test_plugin_verdict_fact_and_record(self):
        fb, sl = self.start_plugin("example", "reject_helo bad.example")
        c = self.client(sl)
        c.banner()
        r = c.cmd("EHLO bad.example", expect=550)
        self.assertEqual(r.enhanced, "5.7.1")
        self.assertIn("HELO bad.example refused by the example filter", r.text)
        c.cmd("EHLO good.example", expect=250)
        rec = sl.wait_decision(event="policy.reject")
        self.assertEqual((rec["filter"], rec["stage"], rec["helo"]), ("example", "helo", "bad.example"))
        self.assertEqual(rec["example"], {"helo": "bad.example", "rule": "reject_helo"})
        self.assertNotIn("bad.example", [x for cn in fb.connections for x in cn.verbs])

    def test_failing_hook_is_skipped_and_recorded(self):
        fb, sl = self.start_plugin("example on_error skip", "fail_at mail")
        c = self.session(sl)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        rec = sl.wait_decision(event="policy.pass")
        self.assertEqual((rec["filter"], rec["why"], rec["stage"]), ("example", "filter-error", "mail"))

    def test_failing_hook_tempfails_when_configured(self):
        fb, sl = self.start_plugin("example on_error tempfail", "fail_at mail")
        c = self.session(sl)
        r = c.cmd("MAIL FROM:<a@client.test>", expect=451)
        self.assertEqual(r.enhanced, "4.3.0")
        c.cmd("NOOP", expect=250)                                # the session goes on
        self.assertNotIn("MAIL", fb.all_verbs())

    def test_hook_that_never_answers_times_out(self):
        fb, sl = self.start_plugin("example hook_timeout 500ms on_error tempfail", "hang_at rcpt")
        c = self.session(sl)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        t0 = time.monotonic()
        r = c.cmd("RCPT TO:<alice@example.test>", expect=451, timeout=10)
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)
        c.cmd("NOOP", expect=250)
        other = self.session(sl, source="127.0.0.6")              # the daemon serves others
        other.cmd("NOOP", expect=250)
        fb2, sl2 = self.start_plugin("example hook_timeout 300ms", "hang_at rcpt")   # on_error skip
        c2 = self.session(sl2)
        c2.cmd("MAIL FROM:<a@client.test>", expect=250)
        c2.cmd("RCPT TO:<alice@example.test>", expect=250, timeout=10)
        rec = sl2.wait_decision(event="policy.pass")
        self.assertEqual(rec["why"], "filter-timeout")

    def test_final_dot_waits_for_the_end_of_data_vote(self):
        """A filter hooking eod: the backend gets the final dot only after the
        vote; a command pipelined after the dot waits too, and is answered after."""
        fb, sl, c, mid, msg = self.in_data("example hook_timeout 800ms", "hang_at eod")    # on_error skip
        t0 = time.monotonic()
        c.send(dot_stuff(msg) + b".\r\nNOOP\r\n")
        self.assertEqual(c.read_available(0.4), b"")              # no reply while the vote runs
        self.assertEqual(fb.all_messages(), [])                    # and no dot at the backend
        self.assertEqual(fb.all_verbs().count("NOOP"), 0)
        r1, r2 = c.read_replies(2, timeout=10)
        self.assertGreaterEqual(time.monotonic() - t0, 0.75)
        self.assertEqual((r1.code, r2.code), (250, 250))
        self.assertIn("queued as", r1.text)
        self.assertEqual(fb.all_messages(), [msg])
        rec = sl.wait_decision(event="policy.pass")
        self.assertEqual((rec["filter"], rec["why"], rec["stage"]), ("example", "filter-timeout", "eod"))
        self.assertEqual(rec["msgid"], mid)

    def test_end_of_data_refusal_drops_the_backend_transaction(self):
        """A refusal at eod: the client gets it after its dot, the backend
        connection is closed without the dot, the session goes on."""
        fb, sl = self.start_plugin("example hook_timeout 300ms on_error tempfail", "hang_at eod")
        c = self.session(sl)
        mid, msg = make_message(to="alice@example.test")
        replies = c.send_message("a@client.test", ["alice@example.test"], msg, expect_final=451)
        self.assertEqual(replies[-1].enhanced, "4.3.0")
        self.assertEqual(fb.connections[0].wait_closed(), "peer")   # abandoned, never the dot
        self.assertEqual(fb.all_messages(), [])
        rec = sl.wait_decision(event="policy.tempfail")
        self.assertEqual((rec["filter"], rec["stage"], rec["msgid"]), ("example", "eod", mid))
        self.assertTrue(rec["reply"].startswith("451 4.3.0"), rec)
        c.cmd("NOOP", expect=250)

    def test_backend_lost_during_the_end_of_data_vote_is_451(self):
        """The backend hangs up while the filters still vote: the client gets
        451 (never 250), even though the vote then passes."""
        fb, sl, c, mid, msg = self.in_data("example hook_timeout 1s", "hang_at eod")        # on_error skip
        c.send(dot_stuff(msg) + b".\r\n")
        self.body_at_backend(fb, msg)
        fb.connections[0]._close(reason="test")                   # gone before the dot
        r = c.read_reply(timeout=10)
        self.assertEqual((r.code, r.enhanced), (451, "4.4.2"), str(r))
        self.assertEqual(fb.all_messages(), [])
        rec = sl.wait_decision(event="msg.tempfail")
        self.assertEqual((rec["result"], rec["msgid"]), ("backend-lost", mid))
        c.cmd("NOOP", expect=250)

    def test_client_gone_after_its_dot_during_the_vote(self):
        """A client that closes after its final dot while the filters vote:
        its message is complete, so it goes on as without a vote (Postfix
        commits what it has the dot of); a client gone before its dot
        commits nothing (test_client_input, test_postfix_relay)."""
        fb, sl, c, mid, msg = self.in_data("example hook_timeout 1s", "hang_at eod", source="127.0.0.51")
        c.send(dot_stuff(msg) + b".\r\n")
        self.body_at_backend(fb, msg)
        c.close()
        ev = sl.wait_event("conn.close", client="127.0.0.51", timeout=10)
        self.assertEqual(ev["msgs"], "1")
        self.assertEqual(fb.all_messages(), [msg])
        rec = sl.wait_decision(event="msg.accept")
        self.assertEqual(rec["msgid"], mid)
        self.assertTrue(sl.running())

    def test_half_close_after_the_dot_waits_for_the_vote(self):
        """'.', QUIT, then a half-close (nc -N, scripts) while the vote runs:
        the mail is delivered and both replies come back before the close."""
        fb, sl, c, mid, msg = self.in_data("example hook_timeout 800ms", "hang_at eod")    # on_error skip
        c.send(dot_stuff(msg) + b".\r\nQUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        replies = self.read_until_closed(c, timeout=10)
        self.assertEqual([r.code for r in replies], [250, 221], [str(r) for r in replies])
        self.assertEqual(fb.all_messages(), [msg])

    def test_half_close_while_a_gate_waits(self):
        """MAIL held at a slow filter, more commands pipelined, then a
        half-close: every command is answered, in order, then the close."""
        fb, sl = self.start_plugin("example hook_timeout 500ms", "hang_at mail")   # on_error skip
        c = self.session(sl)
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<alice@example.test>\r\nQUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        replies = self.read_until_closed(c, timeout=10)
        self.assertEqual([r.code for r in replies], [250, 250, 221], [str(r) for r in replies])

    def test_config_check_reports_plugin_problems(self):
        base = "listen 127.0.0.1:2525\nbackend 127.0.0.1:10025\n"
        status, out = check_config(base + "plugin %s\n" % BADABI)
        self.assertNotEqual(status, 0)
        self.assertRegex(out, r":3:8: plugin '.*' has filter ABI 99, sluice has 1")
        status, out = check_config(base + "plugin /nonexistent/x.so\n")
        self.assertIn(":3:8: cannot load plugin", out)
        other = (glob.glob("/usr/lib/*/libcares.so.2") + glob.glob("/lib/*/libz.so.1"))[0]
        status, out = check_config(base + "plugin %s\n" % other)
        self.assertIn("is not a sluice plugin (no sluice_filter_entry symbol)", out)
        status, out = check_config(base + "plugin %s\nexample bogus 1 { }\n" % PLUGIN)
        self.assertIn(":4:9: after 'example' come hook_timeout TIME and on_error skip|tempfail, not 'bogus'", out)
        status, out = check_config(base + "plugin %s\nexample { frobnicate }\n" % PLUGIN)
        self.assertIn("unknown example option 'frobnicate'", out)
        status, out = check_config(base + "plugin %s\nexample { reject_helo x }\n" % PLUGIN)
        self.assertEqual(status, 0, out)


if __name__ == "__main__":
    runner.main()
