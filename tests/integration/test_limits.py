#!/usr/bin/env python3
"""sluice's bounds (FakeBackend or a tiny custom backend behind it): idle
timeout, sessions per IP, recipients, message size (at MAIL and at end of
data), backpressure from a backend that stops reading, and session ids."""

import socket
import threading
import time
import unittest

from harness import runner
from harness.cases import HOST, SluiceCase
from harness.client import RawClient, ConnectionClosed, make_message, dot_stuff
from harness.fakebackend import FakeBackend
from harness.sluice import Sluice, free_port
from harness.util import vmrss_kb, wait_until


def setUpModule():
    runner.require_sluice()


def sized_message(n, body=b"Hello.\r\n"):
    """A message of exactly n bytes (CRLF lines, none longer than 80)."""
    _mid, msg = make_message(body=body)
    rest = n - len(msg)
    assert rest >= 2, "message too small for %d" % n
    while rest >= 82:
        msg += b"y" * 78 + b"\r\n"
        rest -= 80
    msg += b"z" * (rest - 2) + b"\r\n"
    assert len(msg) == n
    return msg


# ----------------------------------------------------------------- timeouts
class IdleTimeoutTest(SluiceCase):
    TIMEOUTS = {"command": "1s", "idle": "1s", "data": "2s"}

    def test_idle_after_ehlo_421_and_close(self):
        fb, sl = self.start()
        c = self.session(sl, source="127.0.0.61")
        replies = self.read_until_closed(c, timeout=10)
        self.assertEqual(len(replies), 1, [str(x) for x in replies])
        self.assertEqual(replies[0].code, 421)
        self.assertEqual(replies[0].enhanced, "4.4.2")
        self.assertIn("timeout exceeded", replies[0].text)
        fb.connections[0].wait_closed(5)
        sl.wait_event("proto.error", what="timeout", state="HELO")
        sl.wait_event("conn.close", client="127.0.0.61", result="timeout")

    def test_idle_before_helo_421_and_close(self):
        fb, sl = self.start()
        c = self.client(sl, source="127.0.0.62")
        c.banner()
        replies = self.read_until_closed(c, timeout=10)
        self.assertEqual([x.code for x in replies], [421])
        self.assertIn("timeout exceeded", replies[0].text)
        sl.wait_event("proto.error", what="timeout", state="GREETED")     # a client that never sends
        sl.wait_event("conn.close", client="127.0.0.62", result="timeout")

    def _stuck_in_data(self, source):
        fb, sl = self.start()
        c = self.session(sl, source=source)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        c.send(b"Subject: stuck\r\n\r\npartial line")
        replies = self.read_until_closed(c, timeout=10)
        return fb, sl, c, replies

    def test_idle_mid_data_closes_without_message(self):
        fb, sl, c, replies = self._stuck_in_data("127.0.0.63")
        self.assertTrue(c.eof)
        self.assertTrue(all(x.code // 100 == 4 for x in replies), [str(x) for x in replies])
        fb.connections[0].wait_closed(5)
        self.assertEqual(fb.all_messages(), [])
        self.assertNotEqual(fb.connections[0].close_reason, "quit")
        self.assertFalse(any(d["event"] == "msg.accept" for d in sl.decisions()))
        d = sl.wait_decision(event="txn.abort")
        self.assertEqual(d["client"], "127.0.0.63")

    def test_idle_mid_data_sends_421(self):
        # like every other timeout: tell the client before closing
        _fb, _sl, _c, replies = self._stuck_in_data("127.0.0.60")
        self.assertEqual([x.code for x in replies], [421], [str(x) for x in replies])
        self.assertIn("timeout exceeded", replies[0].text)

    def test_activity_keeps_session_alive(self):
        fb, sl = self.start()
        c = self.session(sl, source="127.0.0.64")
        # ~2.5 idle periods of traffic, one command every 0.25 s (idle is 1 s)
        for _ in range(10):
            self.assertEqual(c.cmd("NOOP").code, 250)
            time.sleep(0.25)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        self.assertEqual(c.quit().code, 221)


# ------------------------------------------------------------------- limits
class SessionLimitTest(SluiceCase):

    def test_sessions_per_ip(self):
        fb, sl = self.start(limits={"sessions_per_ip": 2})
        c1 = self.client(sl, source="127.0.0.31")
        c1.banner()
        c2 = self.client(sl, source="127.0.0.31")
        c2.banner()
        c3 = self.client(sl, source="127.0.0.31")
        r = c3.read_reply()
        self.assertEqual(r.code, 421, str(r))
        self.assertEqual(r.enhanced, "4.7.0")
        self.assertTrue(c3.wait_closed(5))
        # another IP is still served
        c4 = self.client(sl, source="127.0.0.32")
        c4.banner()
        c4.ehlo()
        self.assertEqual(len(fb.connections), 3)   # the refused client never reached the backend
        # once one session of .31 ends, .31 may connect again
        self.assertEqual(c1.quit().code, 221)
        sl.wait_event(lambda d: d.get("ev") == "conn.close" and d.get("client") == "127.0.0.31"
                      and d.get("result") == "quit")
        c5 = self.client(sl, source="127.0.0.31")
        self.assertEqual(c5.banner().code, 220)
        c5.ehlo()
        self.assertEqual(c2.quit().code, 221)
        self.assertEqual(c5.quit().code, 221)
        self.assertEqual(c4.quit().code, 221)

    def test_session_ids_distinct_16_hex(self):
        fb, sl = self.start()
        for _ in range(20):
            c = self.client(sl, source="127.0.0.50")
            c.banner()
            self.assertEqual(c.quit().code, 221)
        wait_until(lambda: len([e for e in sl.events("conn.close", start=sl.ready_mark)
                                if e.get("client") == "127.0.0.50"]) >= 20, timeout=10,
                   what="20 conn.close events")
        closes = [e for e in sl.events("conn.close", start=sl.ready_mark) if e.get("client") == "127.0.0.50"]
        sids = [e["sid"] for e in closes]
        self.assertEqual(len(sids), 20)
        self.assertEqual(len(set(sids)), 20, sids)
        for sid in sids:
            self.assertRegex(sid, r"^[0-9a-f]{16}$")
        opens = {e["sid"] for e in sl.events("conn.open", start=sl.ready_mark)
                 if e.get("client") == "127.0.0.50"}
        self.assertEqual(opens, set(sids))

    def test_decision_sid_matches_session(self):
        fb, sl = self.start()
        c = self.session(sl, source="127.0.0.51")
        _mid, msg = make_message()
        c.send_message("a@client.test", ["x@example.test"], msg)
        self.assertEqual(c.quit().code, 221)
        close = sl.wait_event("conn.close", client="127.0.0.51")
        d = sl.wait_decision(event="msg.accept")
        self.assertEqual(d["sid"], close["sid"])


class SessionTotalAndTimeTest(SluiceCase):
    def test_total_sessions_limit(self):
        fb, sl = self.start(limits={"sessions": 2})
        c1 = self.session(sl, source="127.0.0.71")
        c2 = self.session(sl, source="127.0.0.72")
        c3 = self.client(sl, source="127.0.0.73")
        r = c3.read_reply()
        self.assertEqual((r.code, r.enhanced), (421, "4.7.0"), r)
        self.assertTrue(c3.wait_closed(5))
        sl.wait_event("conn.refuse", client="127.0.0.73")
        c1.quit()
        c2.quit()

    def test_session_time_limit(self):
        fb, sl = self.start(timeouts={"command": "1s", "idle": "30s", "data": "30s", "session": "2s"})
        c = self.session(sl, source="127.0.0.74")
        deadline = time.monotonic() + 10
        replies = []
        while time.monotonic() < deadline:
            r = c.cmd("NOOP")
            replies.append(r.code)
            if r.code != 250:
                break
            time.sleep(0.2)
        self.assertEqual(replies[-1], 421, replies)
        self.assertTrue(c.wait_closed(5))
        sl.wait_event("conn.close", client="127.0.0.74", result="session time limit")


class RecipientLimitTest(SluiceCase):

    def test_third_rcpt_452_never_reaches_backend(self):
        fb, sl = self.start(limits={"recipients": 2})
        c = self.session(sl)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<r1@example.test>", expect=250)
        c.cmd("RCPT TO:<r2@example.test>", expect=250)
        r = c.cmd("RCPT TO:<r3@example.test>")
        self.assertEqual(r.code, 452, str(r))
        self.assertEqual(r.enhanced, "4.5.3")
        self.assertFalse(fb.saw(b"r3@example.test"))
        c.cmd("DATA", expect=354)
        mid, msg = make_message()
        c.send(dot_stuff(msg) + b".\r\n")
        c.expect(250)
        self.assertEqual(fb.connections[0].transactions[0]["rcpts"], ["r1@example.test", "r2@example.test"])
        d = sl.wait_decision(event="msg.accept")
        self.assertEqual(d["rcpts"], ["r1@example.test", "r2@example.test"])
        # the count starts again with the next transaction
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<r4@example.test>", expect=250)
        c.cmd("RCPT TO:<r5@example.test>", expect=250)
        self.assertEqual(c.cmd("RCPT TO:<r6@example.test>").code, 452)
        self.assertFalse(fb.saw(b"r6@example.test"))

    def test_pipelined_rcpts_over_limit(self):
        fb, sl = self.start(limits={"recipients": 2})
        c = self.session(sl)
        c.send(b"MAIL FROM:<a@client.test>\r\n" +
               b"".join(b"RCPT TO:<p%d@example.test>\r\n" % i for i in range(1, 6)))
        self.assertEqual([x.code for x in c.read_replies(6)], [250, 250, 250, 452, 452, 452])
        for i in (3, 4, 5):
            self.assertFalse(fb.saw(b"p%d@example.test" % i))


class MessageSizeTest(SluiceCase):
    LIMIT = 10240

    def test_mail_size_param_over_limit_552_never_relayed(self):
        fb, sl = self.start(limits={"message_size": "10k"})
        c = self.session(sl)
        r = c.cmd("MAIL FROM:<big@client.test> SIZE=%d" % (self.LIMIT + 1))
        self.assertEqual(r.code, 552, str(r))
        self.assertEqual(r.enhanced, "5.3.4")
        self.assertNotIn("MAIL", fb.all_verbs())
        self.assertFalse(fb.saw(b"big@client.test"))
        # at the limit is fine and is relayed
        c.cmd("MAIL FROM:<ok@client.test> SIZE=%d" % self.LIMIT, expect=250)
        self.assertIn("MAIL FROM:<ok@client.test> SIZE=%d" % self.LIMIT, fb.all_commands())

    def test_oversized_body_552_backend_not_committed(self):
        fb, sl = self.start(limits={"message_size": "10k"})
        c = self.session(sl, source="127.0.0.65")
        mid, msg = make_message(size=30000)
        replies = c.send_message("a@client.test", ["x@example.test"], msg, expect_final=None)
        self.assertEqual(replies[-1].code, 552, str(replies[-1]))
        self.assertEqual(replies[-1].enhanced, "5.3.4")
        conn0 = fb.connections[0]
        conn0.wait_closed(5)
        self.assertEqual(conn0.messages, [])
        self.assertEqual(conn0.raw_data, [])
        self.assertNotIn(b"\r\n.\r\n", bytes(conn0.raw).split(b"DATA\r\n", 1)[-1])
        d = sl.wait_decision(event="msg.reject")
        self.assertTrue(d["reply"].startswith("552 5.3.4"), d)
        # sluice did not buffer the whole message to find out
        self.assertLess(len(bytes(conn0.raw)), 30000 + 2000)
        # the session continues with a new backend connection
        _mid2, small = make_message()
        c.send_message("a@client.test", ["x@example.test"], small)
        self.assertEqual(fb.connections[-1].messages, [small])
        self.assertEqual(c.quit().code, 221)

    def test_size_boundary(self):
        fb, sl = self.start(limits={"message_size": "10k"})
        c = self.session(sl)
        exact = sized_message(self.LIMIT)
        c.send_message("a@client.test", ["x@example.test"], exact)
        over = exact[:-2] + b"y\r\n"
        replies = c.send_message("a@client.test", ["x@example.test"], over, expect_final=None)
        self.assertEqual(replies[-1].code, 552, str(replies[-1]))
        self.assertEqual(fb.all_messages(), [exact])

    def test_size_limit_ignores_dot_stuffing(self):
        # a message of exactly the limit whose lines start with '.': the
        # quoting dots on the wire do not count (RFC 1870)
        fb, sl = self.start(limits={"message_size": "10k"})
        c = self.session(sl)
        msg = sized_message(self.LIMIT, body=b"".join(b".%05d\r\n" % i for i in range(100)))
        replies = c.send_message("a@client.test", ["x@example.test"], msg, expect_final=None)
        self.assertEqual(replies[-1].code, 250, str(replies[-1]))
        self.assertEqual(fb.all_messages(), [msg])


# ------------------------------------------------------------- backpressure
class StuckBackend:
    """Greets, answers EHLO/XCLIENT/MAIL/RCPT/RSET/NOOP/QUIT, answers DATA
    with 354 and then never reads its socket again (until stop())."""

    def __init__(self):
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.stuck = []
        self._stop = threading.Event()
        self._socks = []
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        self.lsock.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._socks.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        try:
            s.settimeout(0.2)
            s.sendall(b"220 stuck.backend.test ESMTP\r\n")
            buf = b""
            while not self._stop.is_set():
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    verb = line.strip().split(b" ", 1)[0].upper()
                    if verb == b"EHLO":
                        s.sendall(b"250-stuck.backend.test\r\n250-PIPELINING\r\n250-SIZE 1000000000\r\n"
                                  b"250 XCLIENT ADDR PORT NAME HELO PROTO\r\n")
                    elif verb == b"XCLIENT":
                        s.sendall(b"220 stuck.backend.test ESMTP\r\n")
                    elif verb == b"DATA":
                        s.sendall(b"354 go ahead\r\n")
                        self.stuck.append(s)
                        self._stop.wait()       # never read again
                        return
                    elif verb == b"QUIT":
                        s.sendall(b"221 bye\r\n")
                        return
                    else:
                        s.sendall(b"250 ok\r\n")
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buf += chunk
        except OSError:
            pass
        finally:
            s.close()

    def stop(self):
        self._stop.set()
        self.lsock.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass


class BackpressureTest(SluiceCase):
    TOTAL = 50 * 1024 * 1024

    def test_backend_stops_reading_client_is_blocked_memory_bounded(self):
        be = StuckBackend()
        self.addCleanup(be.stop)
        sl = self.start_sluice(be, timeouts={"command": "6s", "idle": "6s", "data": "6s"},
                               limits={"message_size": "200M"})
        c = self.session(sl, source="127.0.0.66")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<x@example.test>", expect=250)
        c.cmd("DATA", expect=354)
        wait_until(lambda: be.stuck, timeout=5, what="backend to stop reading")
        base = vmrss_kb(sl.pid)
        peak = [base]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], vmrss_kb(sl.pid))
                except (OSError, AssertionError):
                    return
                stop.wait(0.05)
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        chunk = (b"x" * 78 + b"\r\n") * 820          # ~64 KB of valid lines
        sent, blocked = 0, False
        t_start = time.monotonic()
        deadline = t_start + 15
        c.sock.settimeout(2.0)
        try:
            while sent < self.TOTAL and time.monotonic() < deadline:
                try:
                    n = c.sock.send(chunk)
                except (socket.timeout, TimeoutError):
                    blocked = True
                    break
                sent += n
        finally:
            time.sleep(0.3)
            stop.set()
            t.join(2)
        peak_now = max(peak[0], vmrss_kb(sl.pid))
        print("\n  backpressure: pushed %d bytes in %.1fs, blocked=%s, RSS %d -> peak %d kB"
              % (sent, time.monotonic() - t_start, blocked, base, peak_now))
        self.assertTrue(blocked, "the client was never blocked (sent %d bytes)" % sent)
        self.assertLess(sent, self.TOTAL)
        self.assertLess(peak_now - base, 32 * 1024,
                        "sluice RSS grew from %d kB to %d kB while %d bytes were pushed"
                        % (base, peak_now, sent))
        # the stuck backend makes sluice give up (bounded by its timeouts):
        # the client sees the close, at most with a 4xx, never 250 or 5xx
        replies = self.read_until_closed(c, timeout=30)
        self.assertTrue(c.eof)
        self.assertTrue(all(x.code // 100 == 4 for x in replies), [str(x) for x in replies])
        sl.wait_event("conn.close", client="127.0.0.66", timeout=10)
        self.assertFalse(any(d["event"] == "msg.accept" for d in sl.decisions()))
        # sluice itself is still serving other clients
        c2 = self.client(sl, source="127.0.0.67")
        self.assertEqual(c2.banner().code, 220)


if __name__ == "__main__":
    runner.main()
