#!/usr/bin/env python3
"""pregreet: clients that talk before the greeting ends are caught in the
same session (no reconnect), with an optional multi-line greeting; and the
protocol facts the session adds (commands pipelined without PIPELINING,
bare LF in commands). Rules act on the facts."""

import time
import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.client import parse_replies


class PregreetTest(SluiceCase):
    def start_pg(self, *rules, pg=("pause 400ms",)):
        lines = ["pregreet {"] + ["  " + x for x in pg] + ["}", "rules {"] + ["  " + r for r in rules] + ["}"]
        return self.start(extra=lines)

    def test_talking_first_is_a_fact_the_rules_use(self):
        fb, sl = self.start_pg('helo: if pregreet.talked_first then reject 554 5.5.1 "Protocol error: you talked first; ref={ref}"')
        early = self.client(sl, source="127.0.0.21")
        early.send(b"EHLO bot.test\r\n")                           # before any greeting
        self.assertEqual(early.banner().code, 220)
        r = early.read_reply()
        self.assertEqual(r.code, 554)
        self.assertIn("you talked first", r.text)
        polite = self.client(sl, source="127.0.0.22")
        polite.banner()
        polite.cmd("EHLO mta.test", expect=250)                    # same daemon, no reconnect dance
        rec = sl.wait_decision(event="policy.reject")
        self.assertEqual(rec["rules"]["read"], {"pregreet.talked_first": "true"})

    def test_multiline_greeting_catches_who_answers_the_first_line(self):
        fb, sl = self.start_pg('helo: if pregreet.talked_first then reject 554 5.5.1 "talked first"',
                               pg=("pause 600ms", "multiline on"))
        c = self.client(sl, source="127.0.0.23")
        first = c.sock.recv(100)
        self.assertEqual(first, b"220-mx.sluice.test ESMTP\r\n")    # the first line, at once
        c.send(b"EHLO eager.test\r\n")                            # a bot answers it
        replies = []
        deadline = time.monotonic() + 5
        data = b""
        while len(replies) < 2 and time.monotonic() < deadline:
            data += c.sock.recv(4096)
            replies = parse_replies(data)[0]
        self.assertEqual([r.code for r in replies][:2], [220, 554])
        polite = self.client(sl, source="127.0.0.24")
        self.assertEqual(polite.banner().code, 220)               # waited for the whole greeting
        polite.cmd("EHLO mta.test", expect=250)

    def test_connect_stage_refusal_after_an_early_line(self):
        fb, sl = self.start_pg('connect: if pregreet.talked_first then reject 554 5.7.1 "go away; ref={ref}"',
                               pg=("pause 400ms", "multiline on"))
        c = self.client(sl, source="127.0.0.25")
        c.send(b"HELO bot.test\r\n")
        self.assertEqual(c.banner().code, 220)                    # the greeting is finished, then ...
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (554, "5.7.1"))    # ... every command gets the refusal
        c.cmd("MAIL FROM:<a@bot.test>", expect=554)
        c.cmd("QUIT", expect=221)
        self.assertEqual(fb.all_verbs().count("MAIL"), 0)

    def test_pipelining_without_offer_and_bare_lf_are_facts(self):
        fb, sl = self.start_pg('mail: if proto.pipelined then reject 550 5.5.1 "pipelining was not offered"',
                               'rcpt: if proto.bare_lf then reject 550 5.5.2 "bare LF earlier"', pg=("pause 1ms",))
        c = self.client(sl, source="127.0.0.26")
        c.banner()
        c.send(b"EHLO bot.test\r\nMAIL FROM:<a@bot.test>\r\n")    # before the EHLO reply offered PIPELINING
        codes = [r.code for r in c.read_replies(2)]
        self.assertEqual(codes, [250, 550])
        ok = self.session(sl, source="127.0.0.27")               # pipelining after the offer is fine
        ok.send(b"MAIL FROM:<a@mta.test>\r\nRCPT TO:<alice@example.test>\r\n")
        self.assertEqual([r.code for r in ok.read_replies(2)], [250, 250])
        lf = self.session(sl, source="127.0.0.28")
        lf.send(b"NOOP\n")
        self.assertEqual(lf.read_reply().code, 500)
        lf.cmd("MAIL FROM:<a@mta.test>", expect=250)
        lf.cmd("RCPT TO:<alice@example.test>", expect=550)


if __name__ == "__main__":
    runner.main()
