#!/usr/bin/env python3
"""sluice against hostile or odd client input (FakeBackend behind it):
split and case-mixed commands, over-long lines, NUL / bare LF / bare CR,
client XCLIENT/XFORWARD, deep pipelining, the error limit, HTTP, SMTP
smuggling in reject and normalise mode, dot-stuffing transparency,
half-close and disconnect mid-DATA."""

import os
import re
import socket
import threading
import time
import unittest

from harness import runner
from harness.cases import HOST, SluiceCase
from harness.client import RawClient, ConnectionClosed, make_message, dot_stuff, parse_replies
from harness.fakebackend import FakeBackend
from harness.sluice import Sluice
from harness.util import vmrss_kb, wait_until


def setUpModule():
    runner.require_sluice()


def lenient_commands(raw):
    """The commands a lenient SMTP server (LF ends a line, CR stripped, a
    lone '.' line ends DATA) would have read from these bytes."""
    cmds, in_data = [], False
    for ln in raw.split(b"\n"):
        ln = ln.rstrip(b"\r")
        if in_data:
            if ln == b".":
                in_data = False
            continue
        cmds.append(ln)
        if ln.upper() == b"DATA":
            in_data = True
    return cmds


# ------------------------------------------------------------- commands
def push_in_background(c, payload, half_close=False):
    """Send payload from a thread (sluice may stop reading until we read);
    returns the thread and the list its OSError, if any, lands in."""
    err = []

    def push():
        try:
            c.sock.sendall(payload)
            if half_close:
                c.sock.shutdown(socket.SHUT_WR)
        except OSError as e:  # pragma: no cover - reported by the caller
            err.append(e)
    t = threading.Thread(target=push, daemon=True)
    t.start()
    return t, err


class CommandInputTest(SluiceCase):

    def test_commands_split_byte_by_byte(self):
        fb, sl = self.start()
        c = self.client(sl)
        c.banner()
        c.send_bytewise(b"EHLO split.client.test\r\n", pause=0.001)
        r = c.expect(250)
        self.assertEqual(r.lines[0], HOST)
        c.send_bytewise(b"MAIL FROM:<a@client.test>\r\n", pause=0.001)
        c.expect(250)
        c.send_bytewise(b"RCPT TO:<x@example.test>\r\nNOOP\r\n", pause=0.001)
        self.assertEqual([x.code for x in c.read_replies(2)], [250, 250])
        c.send_split(b"DATA\r\n", at=[1, 4, 5])
        c.expect(354)
        _mid, msg = make_message()
        data = dot_stuff(msg) + b".\r\n"
        # the end-of-data marker split across sends at every position
        c.send_split(data, at=[len(data) - 4, len(data) - 3, len(data) - 2, len(data) - 1], pause=0.03)
        c.expect(250)
        conn = fb.connections[0]
        self.assertEqual(conn.commands[2:], ["EHLO split.client.test", "MAIL FROM:<a@client.test>",
                                             "RCPT TO:<x@example.test>", "DATA"])
        self.assertEqual(conn.messages, [msg])
        self.assertEqual(c.quit().code, 221)

    def test_case_insensitive_verbs_relayed_verbatim(self):
        fb, sl = self.start()
        c = self.client(sl)
        c.banner()
        self.assertEqual(c.cmd("eHlO mixed.client.test").code, 250)
        self.assertEqual(c.cmd("mail from:<a@client.test>").code, 250)
        self.assertEqual(c.cmd("Rcpt To:<x@example.test>").code, 250)
        self.assertEqual(c.cmd("nOoP").code, 250)
        self.assertEqual(c.cmd("data").code, 354)
        _mid, msg = make_message()
        c.send(dot_stuff(msg) + b".\r\n")
        c.expect(250)
        self.assertEqual(c.cmd("rset").code, 250)
        self.assertEqual(c.cmd("QuIt").code, 221)
        self.assertTrue(c.wait_closed(5))
        conn = fb.connections[0]
        self.assertIn("mail from:<a@client.test>", conn.commands)
        self.assertIn("Rcpt To:<x@example.test>", conn.commands)
        self.assertEqual(conn.messages, [msg])
        self.assertEqual(conn.xclient[0]["HELO"], "mixed.client.test")

    def test_100k_line_rejected_session_continues(self):
        fb, sl = self.start()
        c = self.session(sl)
        c.send(b"MAIL FROM:<" + b"y" * 100000 + b"@client.test>\r\n")
        r = c.read_reply()
        self.assertEqual(str(r), "500 5.5.2 Error: line too long")
        # exactly one reply for the one line
        self.assertEqual(c.read_available(0.3), b"")
        self.assertEqual(c.cmd("NOOP").code, 250)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        self.assertFalse(fb.saw(b"yyyyyyyyyy"))
        self.assertEqual(c.quit().code, 221)

    def test_line_length_limit_boundary(self):
        fb, sl = self.start(limits={"line_length": 512})
        c = self.session(sl)
        short = "MAIL FROM:<%s@client.test>" % ("s" * 200)
        c.cmd(short, expect=250)
        c.cmd("RSET", expect=250)
        r = c.cmd("MAIL FROM:<%s@client.test>" % ("l" * 600))
        self.assertEqual(r.code, 500, str(r))
        self.assertFalse(fb.saw(b"l" * 600))
        self.assertEqual(c.cmd("NOOP").code, 250)

    def test_nul_bare_lf_bare_cr_commands_500_never_relayed(self):
        fb, sl = self.start()
        c = self.session(sl)
        for bad, tag in ((b"MAIL FROM:<nul\x00x@client.test>\r\n", b"nul"),
                         (b"MAIL FROM:<lf@client.test>\n", b"lf@"),
                         (b"MAIL FROM:<cr@client.test>\rRCPT TO:<crx@example.test>\r\n", b"cr@"),
                         (b"RSET\rMAIL FROM:<cr2@client.test>\r\n", b"cr2@")):
            with self.subTest(bad=bad):
                c.send(bad)
                r = c.read_reply()
                self.assertEqual(r.code, 500, str(r))
                self.assertEqual(r.enhanced, "5.5.2")
                self.assertEqual(c.read_available(0.2), b"")
                self.assertFalse(fb.saw(tag))
        self.assertFalse(fb.saw(b"crx@"))
        # session usable afterwards; none of the bad lines reached the backend
        c.cmd("MAIL FROM:<good@client.test>", expect=250)
        self.assertEqual([x for x in fb.all_verbs() if x == "MAIL"], ["MAIL"])
        self.assertEqual(c.quit().code, 221)

    def test_client_xclient_xforward_502_never_relayed(self):
        fb, sl = self.start()
        c = self.session(sl, source="127.0.0.41")
        for line in ("XCLIENT ADDR=6.6.6.6 NAME=spoofed.example", "XFORWARD ADDR=6.6.6.7",
                     "xclient addr=6.6.6.8"):
            with self.subTest(line=line):
                r = c.cmd(line)
                self.assertEqual(r.code, 502, str(r))
                self.assertEqual(r.enhanced, "5.5.1")
        for other in ("STARTTLS", "BDAT 5 LAST", "ETRN example.test", "EXPN staff"):
            with self.subTest(line=other):
                self.assertEqual(c.cmd(other).code, 502)
        # AUTH is relayed only when offered (over TLS by default): like Postfix, 503 otherwise
        self.assertEqual(c.cmd("AUTH PLAIN AHVzZXIAc2VjcmV0").code, 503)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        self.assertFalse(fb.saw(b"6.6.6."))
        self.assertFalse(fb.saw(b"spoofed"))
        self.assertFalse(fb.saw(b"AHVzZXIAc2VjcmV0"))
        self.assertEqual(fb.all_verbs().count("XCLIENT"), 1)
        self.assertEqual(fb.connections[0].xclient[0]["ADDR"], "127.0.0.41")
        self.assertNotIn("XFORWARD", fb.all_verbs())
        self.assertEqual(c.quit().code, 221)

    def test_10000_pipelined_noops_then_quit(self):
        n = 10000
        fb, sl = self.start()
        c = self.session(sl)
        c_mark = len(c.received)
        t, err = push_in_background(c, b"NOOP\r\n" * n + b"QUIT\r\n")
        # read raw until the close, parse once (RawClient.read_reply re-parses
        # its whole buffer per reply: quadratic for 10,000 replies)
        self.assertTrue(c.wait_closed(60), "sluice did not close after QUIT")
        replies, rest = parse_replies(bytes(c.received)[c_mark:])
        self.assertEqual(rest, b"")
        t.join(10)
        self.assertEqual(err, [])
        self.assertEqual(len(replies), n + 1, "got %d replies" % len(replies))
        bad = [i for i, r in enumerate(replies[:n]) if r.code != 250]
        self.assertEqual(bad, [], "non-250 at %s: %s" % (bad[:5], [str(replies[i]) for i in bad[:5]]))
        self.assertEqual(str(replies[n]), "221 2.0.0 Bye")
        self.assertNotIn("NOOP", fb.all_verbs())

    def test_garbage_until_error_limit_421_and_close(self):
        limit = 3
        fb, sl = self.start(limits={"errors": limit})
        c = self.session(sl)
        c.send(b"".join(b"BOGUS%d\r\n" % i for i in range(limit + 3)))
        replies = self.read_until_closed(c)
        codes = [x.code for x in replies]
        self.assertEqual(codes[-1], 421, codes)
        self.assertIn("too many errors", replies[-1].text)
        self.assertEqual(replies[-1].enhanced, "4.7.0")
        self.assertTrue(all(x == 502 for x in codes[:-1]), codes)
        self.assertIn(len(codes) - 1, (limit - 1, limit), codes)
        self.assertFalse(fb.saw(b"BOGUS"))
        d = sl.wait_event("conn.close", client="127.0.0.5")
        self.assertGreaterEqual(int(d["errors"]), limit - 1)

    def test_http_request_521_and_close(self):
        fb, sl = self.start()
        for first, source in ((b"GET / HTTP/1.0\r\n\r\n", "127.0.0.42"),
                              (b"POST /cgi-bin/x HTTP/1.1\r\nHost: a\r\n\r\n", "127.0.0.43"),
                              (b"CONNECT 10.0.0.1:25 HTTP/1.0\r\n\r\n", "127.0.0.44")):
            with self.subTest(first=first):
                c = self.client(sl, source=source)
                c.banner()
                c.send(first)
                replies = self.read_until_closed(c)
                self.assertEqual(len(replies), 1, [str(x) for x in replies])
                self.assertEqual(replies[0].code, 521)
                self.assertEqual(replies[0].enhanced, "5.7.0")
        self.assertFalse(fb.saw(b"HTTP/1."))
        self.assertFalse(fb.saw(b"Host:"))


class BadInputBoundsTest(SluiceCase):
    """Input pushed without reading the replies: every line gets its reply
    and its log line, in order, and sluice's memory stays within its
    limits (line length, pipeline depth, input and output high-water marks)
    however much the client sends."""

    @staticmethod
    def small_quarantine():
        # ASan keeps freed memory in quarantine (256 MB by default), so RSS
        # would measure the allocator; the checks stay, the quarantine shrinks
        o = os.environ.get("ASAN_OPTIONS", "")
        return {"ASAN_OPTIONS": (o + ":" if o else "") + "quarantine_size_mb=4"}

    def flood(self, c, sl, payload):
        """Send payload in a thread; sample sluice's RSS until the close. Returns (replies, peak KiB)."""
        mark = len(c.received)
        t, err = push_in_background(c, payload)
        peak = 0
        deadline = time.monotonic() + 60
        while not c.eof and time.monotonic() < deadline:
            peak = max(peak, vmrss_kb(sl.pid))
            c.read_available(0.05)
        self.assertTrue(c.wait_closed(5), "sluice did not close after QUIT")
        t.join(10)
        self.assertEqual(err, [])
        replies, rest = parse_replies(bytes(c.received)[mark:])
        self.assertEqual(rest, b"")
        return replies, peak

    def test_half_close_after_a_flood_read_slowly_is_answered_in_full(self):
        """300,000 pipelined HELPs and a QUIT, a half-close, and a client that
        reads slowly: the EOF arrives while replies are backed up. Every
        command is answered, then 221 (this used to recurse until sluice
        crashed: a remote kill switch for the whole daemon)."""
        n = 300000
        fb, sl = self.start(env=self.small_quarantine())
        c = self.session(sl, source="127.0.0.73")
        mark = len(c.received)
        t, err = push_in_background(c, b"HELP\r\n" * n + b"QUIT\r\n", half_close=True)
        time.sleep(0.5)                         # let the replies back up
        got = bytearray(c.received[mark:])
        c.sock.settimeout(10)
        while True:
            d = c.sock.recv(65536)
            if not d:
                break
            got += d
            time.sleep(0.002)
        t.join(10)
        self.assertEqual(err, [])
        replies, rest = parse_replies(bytes(got))
        self.assertEqual(rest, b"")
        self.assertEqual(len(replies), n + 1)
        self.assertEqual({r.code for r in replies[:n]}, {214})
        self.assertEqual(str(replies[-1]), "221 2.0.0 Bye")
        self.assertTrue(sl.running())
        sl.wait_event("conn.close", client="127.0.0.73", result="quit")

    def test_close_with_unread_input_ends_in_fin_not_reset(self):
        """Too many errors with more input pipelined behind them: sluice
        closes with a FIN after its 421 and drains the rest, so the client
        reads every reply and a clean end of stream, not ECONNRESET (some
        client stacks drop received replies on a reset)."""
        fb, sl = self.start(limits={"errors": 3})
        c = self.session(sl, source="127.0.0.74")
        mark = len(c.received)
        t, err = push_in_background(c, b"FOO\r\n" * 3 + b"NOOP\r\n" * 30000)
        time.sleep(0.5)                                  # sluice has closed by now
        got = bytearray(c.received[mark:])
        c.sock.settimeout(5)
        while True:
            d = c.sock.recv(65536)                       # ConnectionResetError would fail the test
            if not d:
                break
            got += d
        t.join(10)
        self.assertEqual(err, [])
        replies, rest = parse_replies(bytes(got))
        self.assertEqual(([r.code for r in replies], rest), ([502, 502, 421], b""))
        sl.wait_event("conn.close", client="127.0.0.74", result="too many errors")

    def test_client_that_keeps_sending_after_the_close_is_cut_off(self):
        """The drain after the FIN is bounded: a client that sends on and on
        is reset after about 2 s, and sluice serves others meanwhile."""
        fb, sl = self.start(limits={"errors": 1})
        c = self.session(sl, source="127.0.0.75")
        c.send(b"FOO\r\n")
        self.assertEqual(c.read_reply().code, 421)
        t0 = time.monotonic()
        c.sock.settimeout(5)
        with self.assertRaises(OSError):                 # EPIPE or ECONNRESET once sluice gives up
            while time.monotonic() - t0 < 10:
                c.sock.send(b"NOOP\r\n" * 100)
                time.sleep(0.01)
        self.assertLess(time.monotonic() - t0, 4)                  # LINGER_MS is 2 s
        self.session(sl, source="127.0.0.76").cmd("NOOP", expect=250)

    def test_300_lines_of_100k_each_bounded(self):
        n = 300                                      # 30 MB of over-long lines
        fb, sl = self.start(limits={"errors": 1000}, env=self.small_quarantine())
        c = self.session(sl, source="127.0.0.71")
        base = vmrss_kb(sl.pid)
        line = b"MAIL FROM:<" + b"z" * 100000 + b"@client.test>\r\n"
        replies, peak = self.flood(c, sl, line * n + b"QUIT\r\n")
        self.assertEqual([str(r) for r in replies], ["500 5.5.2 Error: line too long"] * n + ["221 2.0.0 Bye"])
        self.assertLess(peak, base + 16 * 1024, "sluice grew by %d KiB" % (peak - base))
        self.assertFalse(fb.saw(b"zzzzzzzzzz"))
        errs = [e for e in sl.events("proto.error") if e.get("client") == "127.0.0.71"]
        self.assertEqual(len(errs), n)
        self.assertEqual((errs[0]["error"], errs[-1]["count"]), ("Error: line too long", str(n)))

    def test_10000_pipelined_relayed_commands_in_order_bounded(self):
        n = 5000                                     # MAIL + RSET each: 10,000 commands for the backend
        fb, sl = self.start(script={"MAIL": lambda conn, line: "250 2.1.0 Ok " + line.decode()[10:].strip()},
                            env=self.small_quarantine())
        c = self.session(sl, source="127.0.0.72")
        base = vmrss_kb(sl.pid)
        payload = b"".join(b"MAIL FROM:<%d@client.test>\r\nRSET\r\n" % i for i in range(n)) + b"QUIT\r\n"
        replies, peak = self.flood(c, sl, payload)
        self.assertEqual(len(replies), 2 * n + 1)
        wrong = [i for i in range(n) if str(replies[2 * i]) != "250 2.1.0 Ok <%d@client.test>" % i
                 or replies[2 * i + 1].code != 250]
        self.assertEqual(wrong, [], [str(replies[2 * i]) for i in wrong[:3]])   # each reply to its command
        self.assertEqual(str(replies[-1]), "221 2.0.0 Bye")
        self.assertLess(peak, base + 16 * 1024, "sluice grew by %d KiB" % (peak - base))
        verbs = fb.all_verbs()
        self.assertEqual((verbs.count("MAIL"), verbs.count("RSET")), (n, n))
        ev = sl.wait_event("conn.close", client="127.0.0.72")
        self.assertEqual((ev["mail"], ev["rset"], ev["commands"], ev["errors"]), (str(n), str(n), str(2 * n + 2), "0"))


# ----------------------------------------------------------------- DATA
SMUGGLE = (b"Subject: smuggle\r\n\r\nbody\r\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\n")


class SummaryLineTest(SluiceCase):

    def test_session_summary_line_counts_every_command(self):
        """One Postfix-style line per session: client, HELO name, each
        command as ok/total (just the count when all succeeded), totals,
        duration and how it ended."""
        fb, sl = self.start(script={"RCPT": lambda conn, line: "550 5.1.1 no such user" if b"nobody" in line else None})
        c = self.session(sl, source="127.0.0.31", helo="summary.client.test")
        mid, msg = make_message(to="alice@example.test")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<alice@example.test>", expect=250)
        c.cmd("RCPT TO:<nobody@example.test>", expect=550)
        c.cmd("DATA", expect=354)
        c.send(dot_stuff(msg) + b".\r\n")
        c.expect(250)
        c.cmd("RSET", expect=250)
        c.cmd("NOOP", expect=250)
        c.cmd("FROB", expect=502)
        port = c.local_address[1]
        c.quit()
        ev = sl.wait_event("conn.close", client="127.0.0.31")
        self.assertEqual({k: ev.get(k) for k in ("helo_name", "ehlo", "mail", "rcpt", "data", "rset", "noop",
                                                 "unknown", "quit", "commands", "errors", "msgs", "result")},
                         {"helo_name": "summary.client.test", "ehlo": "1", "mail": "1", "rcpt": "1/2",
                          "data": "1", "rset": "1", "noop": "1", "unknown": "1", "quit": "1", "commands": "9",
                          "errors": "1", "msgs": "1", "result": "quit"}, ev["line"])
        self.assertEqual(ev["port"], str(port))
        self.assertRegex(ev["duration"], r"^\d+\.\d{3}$")
        self.assertLess(float(ev["duration"]), 10)


class DataInputTest(SluiceCase):

    def test_smuggling_reject_mode(self):
        fb, sl = self.start(bare_lf="reject")
        c = self.session(sl)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        c.send(SMUGGLE + b"QUIT\r\n")
        replies = self.read_until_closed(c)
        self.assertEqual([x.code for x in replies], [550, 221], [str(x) for x in replies])
        self.assertEqual(replies[0].enhanced, "5.6.0")
        for conn in fb.connections:
            conn.wait_closed(5)
            self.assertNotIn("MAIL FROM:<evil@x>", conn.commands)
            self.assertNotIn(b"MAIL FROM:<evil@x>", lenient_commands(bytes(conn.raw)))
            self.assertNotIn(b"\r\n.\n", bytes(conn.raw))
        self.assertEqual(fb.all_messages(), [])
        self.assertFalse(fb.saw(b"victim@y"))

    def test_smuggling_normalise_mode_no_hidden_transaction(self):
        fb, sl = self.start(bare_lf="normalise")
        c = self.session(sl)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        c.send(SMUGGLE + b"QUIT\r\n")
        replies = self.read_until_closed(c)
        self.assertEqual(replies[-1].code, 221, [str(x) for x in replies])
        queued = [x for x in replies if x.code == 250 and "queued as" in x.text]
        msgs = fb.all_messages()
        # every transaction the backend completed was answered to the client
        self.assertEqual(len(msgs), len(queued), (msgs, [str(x) for x in replies]))
        backend_mails = [m for m in fb.all_commands() if m.upper().startswith("MAIL")]
        client_mail_replies = len(replies) - 2  # all but the first end-of-data and the QUIT
        if any("evil@x" in m for m in backend_mails):
            # only acceptable if the client saw that transaction as its own
            self.assertEqual([x.code for x in replies], [250, 250, 250, 354, 250, 221],
                             [str(x) for x in replies])
        else:
            self.assertEqual(client_mail_replies, 0, [str(x) for x in replies])
            self.assertEqual(len(msgs), 1)
            self.assertIn(b"MAIL FROM:<evil@x>", msgs[0])
        for conn in fb.connections:
            # normalised: the backend never sees a bare LF or bare CR
            self.assertIsNone(re.search(rb"(?<!\r)\n|\r(?!\n)", bytes(conn.raw)), bytes(conn.raw))
            self.assertEqual(lenient_commands(bytes(conn.raw)),
                             [x.encode() for x in conn.commands] + ([b""] if conn.raw else []))

    def test_end_of_data_is_only_crlf_dot_crlf(self):
        # DESIGN: "End-of-data is CRLF . CRLF and nothing else", in both modes.
        seps = (b"\r\n.\n", b"\n.\r\n", b"\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r\n.\r\r\n")
        for mode, want in (("reject", [550, 221]), ("normalise", [250, 221])):
            fb, sl = self.start(bare_lf=mode)
            for sep in seps:
                with self.subTest(mode=mode, sep=sep):
                    fb.clear()
                    c = self.session(sl)
                    c.cmd("MAIL FROM:<a@client.test>", expect=250)
                    c.cmd("RCPT TO:<x@example.test>", expect=250)
                    c.cmd("DATA", expect=354)
                    c.send(b"Subject: s\r\n\r\nbody" + sep + b"MAIL FROM:<evil@x>\r\n"
                           b"RCPT TO:<victim@y>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n")
                    replies = self.read_until_closed(c)
                    self.assertEqual([x.code for x in replies], want, [str(x) for x in replies])
                    for conn in fb.connections:
                        conn.wait_closed(5)
                    self.assertNotIn("MAIL FROM:<evil@x>", fb.all_commands())
                    msgs = fb.all_messages()
                    if mode == "reject":
                        self.assertEqual(msgs, [])
                    else:
                        self.assertEqual(len(msgs), 1, msgs)
                        self.assertIn(b"MAIL FROM:<evil@x>\r\n", msgs[0])
                        self.assertTrue(msgs[0].endswith(b"smuggled\r\n"), msgs[0])

    def test_normalise_mode_converts_bare_lf_to_crlf(self):
        fb, sl = self.start(bare_lf="normalise")
        c = self.session(sl)
        _mid, msg = make_message(body=b"one\ntwo\r\nthree\n")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        c.send(msg + b".\r\n")
        c.expect(250)
        self.assertEqual(fb.connections[0].messages, [msg.replace(b"one\ntwo", b"one\r\ntwo")
                                                         .replace(b"three\n", b"three\r\n")])

    def test_dot_stuffed_lines_reach_backend_byte_exact(self):
        fb, sl = self.start()
        c = self.session(sl)
        body = b".leading dot\r\n..two dots\r\n.\t\r\n.. \r\nno dot\r\n...\r\n"
        _mid, msg = make_message(body=body)
        stuffed = dot_stuff(msg) + b".\r\n"
        self.assertIn(b"\r\n..leading dot\r\n", stuffed)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        c.send(stuffed)
        c.expect(250)
        conn = fb.connections[0]
        self.assertEqual(conn.raw_data, [stuffed])
        self.assertIn(b"\r\n..leading dot\r\n", conn.raw_data[0])
        self.assertIn(b"\r\n....\r\n", conn.raw_data[0])
        self.assertEqual(conn.messages, [msg])

    def test_decision_size_excludes_dot_stuffing(self):
        # RFC 1870: the size counts CRLFs but not the doubled quoting dots
        fb, sl = self.start()
        c = self.session(sl)
        _mid, msg = make_message(body=b"".join(b".%d\r\n" % i for i in range(50)))
        c.send_message("a@client.test", ["x@example.test"], msg)
        self.assertEqual(fb.connections[0].messages, [msg])
        d = sl.wait_decision(event="msg.accept")
        self.assertEqual(d["size"], len(msg))

    def test_half_close_after_pipelined_transaction(self):
        fb, sl = self.start()
        c = self.client(sl)
        c.banner()
        mid, msg = make_message()
        c.send(b"EHLO half.client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<x@example.test>\r\n"
               b"DATA\r\n" + dot_stuff(msg) + b".\r\nQUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        replies = self.read_until_closed(c, timeout=10)
        self.assertEqual([x.code for x in replies], [250, 250, 250, 354, 250, 221],
                         [str(x) for x in replies])
        self.assertEqual(str(replies[4]), "250 2.0.0 Ok: queued as ABC123")
        self.assertEqual(fb.connections[0].messages, [msg])
        self.assertEqual(sl.wait_decision(event="msg.accept")["msgid"], mid)

    def test_client_disconnect_mid_data_aborts_backend_transaction(self):
        fb, sl = self.start()
        c = self.session(sl, source="127.0.0.45")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        mid, msg = make_message(size=20000)
        part = dot_stuff(msg)[:15000]
        c.send(part)
        conn = fb.connections[0]
        # wait (bounded) until the backend got some of the message data
        wait_until(lambda: len(bytes(conn.raw).split(b"DATA\r\n", 1)[-1]) > 1000 or
                   conn.closed.is_set(), timeout=5, what="message data at the backend")
        c.close()
        conn.wait_closed(5)
        self.assertNotEqual(conn.close_reason, "quit")
        self.assertEqual(conn.messages, [])
        self.assertEqual(conn.transactions, [])
        self.assertIsNotNone(conn.partial_data)
        self.assertTrue(len(conn.partial_data) > 0)
        self.assertTrue(part.startswith(conn.partial_data))
        self.assertNotIn(b"\r\n.\r\n", conn.partial_data)
        d = sl.wait_decision(event="txn.abort")
        self.assertEqual(d["client"], "127.0.0.45")
        self.assertFalse(any(x["event"] == "msg.accept" for x in sl.decisions()))
        sl.wait_event("conn.close", client="127.0.0.45")


if __name__ == "__main__":
    runner.main()
