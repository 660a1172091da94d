#!/usr/bin/env python3
"""The dnsbl filter against real DNS servers on loopback: rbldnsd serves the
lists, dnsmasq is the resolver sluice asks (PTR records, forwarding to
rbldnsd). Clients connect from several 127.0.0.x addresses; a FakeBackend
shows what the MTA would have seen."""

import re
import socket
import threading
import time
import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.client import RawClient, make_message
from harness.dnslab import DnsLab
from harness.sluice import check_config, free_port
from harness.util import wait_until

ZEN = """$TTL 300
:127.0.0.2:Listed since 2026-01-01, see https://zen.test/q?ip=$
127.0.0.2
127.0.0.3 :127.0.0.4:Exploited host $
127.0.0.7 :127.0.0.10:Policy block $
127.0.0.9
"""
ERR = """$TTL 300
:127.255.255.254:Query refused: you are using a public resolver
127.0.0.8
127.0.0.9
"""
WL = """$TTL 300
:127.0.10.3:Trusted sender $
127.0.0.9
"""
DBL = """$TTL 300
:127.0.1.2:Domain $ is listed
spam.test
.wild.test
"""
V6 = """$TTL 300
:127.0.0.2:IPv6 $ listed
0:0:0:0
"""
KEYED = """$TTL 300
:127.0.0.2:Listed $ (query via zen.secretkey42.test)
127.0.0.2
"""
REF = re.compile(r"ref=([a-z2-9]{12})")


class DnsblCase(SluiceCase):
    """One DNS lab for the class; each test starts its own sluice."""

    @classmethod
    def setUpClass(cls):
        cls.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cls.silent.bind(("127.0.0.1", 0))
        cls.lab = DnsLab({"zen.test": ("ip4set", ZEN), "err.test": ("ip4set", ERR), "wl.test": ("ip4set", WL),
                          "dbl.test": ("dnset", DBL), "v6.test": ("ip6tset", V6),
                          "secretkey42.zen2.test": ("ip4set", KEYED)},
                         ptr={"127.0.0.6": "host.wild.test", "127.0.0.5": "mail.good.test"},
                         hosts={"mail.good.test": ["127.0.0.5"]},
                         dnsmasq_args=["--server=/slow.test/127.0.0.1#%d" % cls.silent.getsockname()[1]]).start()

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()
        cls.silent.close()

    def dnsbl(self, *lines, dns=("timeout 500ms", "tries 2")):
        conf = ["dns {", "  servers %s" % self.lab.server] + ["  " + x for x in dns] + ["}", "dnsbl {"]
        conf += ["  " + x for x in lines] + ["}"]
        return conf

    def start_dnsbl(self, *lines, **kw):
        return self.start(extra=self.dnsbl(*lines), **kw)

    def records(self, sl, event):
        return [d for d in sl.decisions() if d.get("event") == event]


class TestVerdicts(DnsblCase):
    def test_listed_client_rejected_at_rcpt_with_ref_and_record(self):
        fb, sl = self.start_dnsbl("list zen.test=127.0.0.[2..11]*3 { txt on }", "threshold 3")
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<sender@client.test>", expect=250)      # the envelope is logged first
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        self.assertEqual(r.enhanced, "5.7.1")
        self.assertIn('[127.0.0.2] listed on zen.test (127.0.0.2: "Listed since 2026-01-01, see '
                      'https://zen.test/q?ip=127.0.0.2")', r.text)
        ref = REF.search(r.text).group(1)
        r2 = c.cmd("RCPT TO:<bob@example.test>", expect=554)
        self.assertNotEqual(REF.search(r2.text).group(1), ref)   # every refusal its own reference
        c.cmd("DATA", expect=503)
        c.quit()
        self.assertNotIn("RCPT", fb.all_verbs())                 # the backend never saw a recipient
        rec = sl.wait_decision(ref=ref)
        self.assertEqual(rec["event"], "policy.reject")
        self.assertEqual((rec["client"], rec["helo"], rec["from"], rec["rcpt"]),
                         ("127.0.0.2", "client.test", "sender@client.test", "alice@example.test"))
        self.assertEqual(rec["stage"], "rcpt")
        self.assertEqual(rec["action"], "reject")
        self.assertEqual(rec["filter"], "dnsbl")
        self.assertTrue(rec["reply"].startswith("554 5.7.1 ") and ref in rec["reply"], rec)
        self.assertRegex(rec["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(rec["sid"] and rec["config"] and rec["port"] > 0, rec)
        d = rec["dnsbl"]
        self.assertEqual((d["score"], d["threshold"], d["result"], d["stage"]), (3, 3, "listed", "rcpt"))
        (zl,) = d["lists"]
        self.assertEqual(zl["list"], "zen.test")
        self.assertEqual(zl["query"], "2.0.0.127.zen.test")
        self.assertEqual(zl["answers"], ["127.0.0.2"])
        self.assertEqual(zl["result"], "listed")
        self.assertEqual(zl["ttl"], 300)
        self.assertIn("Listed since", zl["txt"])
        self.assertEqual((zl["weight"], zl["applied"]), (3, 3))
        self.assertIsInstance(zl["latency_ms"], int)
        # the syslog-style line for the same decision
        line = sl.wait_event("policy.reject", ref=ref)
        self.assertEqual(line["client"], "127.0.0.2")

    def test_clean_client_passes_untouched(self):
        fb, sl = self.start_dnsbl("list zen.test { txt on }")
        c = self.session(sl, source="127.0.0.5")
        c.send_message("sender@client.test", ["alice@example.test"], make_message()[1])
        c.quit()
        wait_until(lambda: len(fb.all_messages()) >= 1, timeout=5)
        self.assertEqual([d for d in sl.decisions() if d["event"].startswith("policy.")], [])

    def test_return_code_filter_and_weights(self):
        # 127.0.0.3 answers 127.0.0.4; 127.0.0.7 answers 127.0.0.10
        fb, sl = self.start_dnsbl('list "zen.test=127.0.0.[2;4]*2"', "list zen.test=127.0.0.[10..11]*1",
                                  "threshold 3")
        c = self.session(sl, source="127.0.0.3")       # 2 < 3: passes, and that is recorded
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<alice@example.test>", expect=250)
        c.quit()
        rec = sl.wait_decision(event="policy.pass")
        self.assertEqual((rec["dnsbl"]["score"], rec["dnsbl"]["result"]), (2, "below-threshold"))
        self.assertEqual([x["applied"] for x in rec["dnsbl"]["lists"]], [2, 0])
        fb2, sl2 = self.start_dnsbl('list "zen.test=127.0.0.[2;4]*2"', "list zen.test=127.0.0.[4]*1",
                                    "threshold 3")
        c = self.session(sl2, source="127.0.0.3")      # 2 + 1: refused
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        self.assertIn("listed on zen.test (127.0.0.4", r.text)

    def test_error_codes_never_reject(self):
        fb, sl = self.start_dnsbl("list err.test*10 { txt on }", "list zen.test=127.0.0.2*1")
        c = self.session(sl, source="127.0.0.8")       # err.test answers 127.255.255.254
        c.send_message("a@client.test", ["alice@example.test"], make_message()[1])
        c.quit()
        wait_until(lambda: len(fb.all_messages()) >= 1, timeout=5)
        rec = sl.wait_decision(event="policy.pass")
        self.assertEqual(rec["dnsbl"]["result"], "list-unavailable")
        el = [x for x in rec["dnsbl"]["lists"] if x["list"] == "err.test"][0]
        self.assertEqual((el["result"], el["error"], el["applied"]), ("unavailable", "error code 127.255.255.254", 0))
        self.assertEqual(el["on_failure"], "pass")
        # counted: each list's counters are logged when its configuration goes (reload, stop)
        sl.reload()
        st = sl.wait_event("filter.stats", list="err.test")
        # (the harness's readiness probe from 127.0.0.254 was a clean session too)
        self.assertEqual((st["failed"], st["listed"], st["timeouts"]), ("1", "0", "0"), st)
        self.assertEqual(int(st["queries"]), int(st["failed"]) + int(st["clean"]), st)
        st = sl.wait_event("filter.stats", list="zen.test")
        self.assertEqual((st["listed"], st["failed"]), ("0", "0"), st)

    def test_allow_list_with_negative_weight(self):
        fb, sl = self.start_dnsbl("list zen.test*3", 'list "wl.test=127.0.[0..255].[1;3]*-5"',
                                  "threshold 3", "allow_threshold -1")
        c = self.session(sl, source="127.0.0.9")       # on zen.test and on the allow list
        c.send_message("a@client.test", ["alice@example.test"], make_message()[1])
        c.quit()
        wait_until(lambda: len(fb.all_messages()) >= 1, timeout=5)
        rec = sl.wait_decision(event="policy.pass")
        self.assertEqual((rec["dnsbl"]["result"], rec["dnsbl"]["allowed_by"]), ("allowed", "allow_threshold"))

    def test_authenticated_client_skips_the_verdict(self):
        import base64
        fb, sl = self.start(extra=self.dnsbl("list zen.test*3", "threshold 3") + ["auth offer always"])
        c = self.session(sl, source="127.0.0.2")           # listed, but a roaming user of ours
        c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0pw").decode(), expect=235)
        c.cmd("MAIL FROM:<alice@example.test>", expect=250)
        c.cmd("RCPT TO:<bob@remote.example>", expect=250)
        c.quit()
        self.assertEqual([d for d in sl.decisions() if d["event"] == "policy.reject"], [])
        other = self.session(sl, source="127.0.0.2")       # the same address without AUTH is refused
        other.cmd("MAIL FROM:<x@client.test>", expect=250)
        other.cmd("RCPT TO:<bob@remote.example>", expect=554)

    def test_cidr_allow_skips_lookups(self):
        fb, sl = self.start_dnsbl("list zen.test*3", "threshold 3", "allow 127.0.0.0/30")
        mark = self.lab.mark()
        c = self.session(sl, source="127.0.0.2")
        c.send_message("a@client.test", ["alice@example.test"], make_message()[1])
        c.quit()
        wait_until(lambda: len(fb.all_messages()) >= 1, timeout=5)
        self.assertEqual([q for q in self.lab.queries(mark) if "zen.test" in q[1]], [])


class TestStages(DnsblCase):
    def test_connect_stage_refuses_the_greeting(self):
        fb, sl = self.start_dnsbl("list zen.test { txt on }", "stage connect")
        c = self.client(sl, source="127.0.0.2")
        r = c.banner(expect=554)
        self.assertRegex(r.text, r"listed on zen\.test .*ref=[a-z2-9]{12}")
        c.cmd("EHLO client.test", expect=503)
        c.cmd("MAIL FROM:<a@client.test>", expect=503)
        c.cmd("QUIT", expect=221)
        self.assert_closed(c)
        self.assertEqual(fb.all_verbs(), [])            # the backend was never bothered
        rec = sl.wait_decision(event="policy.reject")
        self.assertEqual((rec["stage"], rec["helo"], rec["from"]), ("connect", None, None))

    def test_helo_stage_and_rhsbl_on_helo(self):
        fb, sl = self.start_dnsbl("list dbl.test { on helo; txt on }", "stage helo")
        c = self.client(sl, source="127.0.0.5")
        c.banner()
        r = c.cmd("EHLO mx.wild.test", expect=554)
        self.assertIn("mx.wild.test listed on dbl.test", r.text)
        c.cmd("MAIL FROM:<a@client.test>", expect=503)     # no HELO was accepted
        c.cmd("EHLO clean.test", expect=250)
        c.quit()

    def test_mail_stage_rhsbl_on_sender(self):
        fb, sl = self.start_dnsbl("list dbl.test { on sender }", "stage mail")
        c = self.session(sl, source="127.0.0.5")
        r = c.cmd("MAIL FROM:<bob@spam.test>", expect=554)
        self.assertIn("spam.test listed on dbl.test", r.text)
        c.cmd("MAIL FROM:<bob@client.test>", expect=250)
        c.quit()
        self.assertFalse(fb.saw(b"spam.test"))

    def test_rhsbl_on_ptr_name(self):
        fb, sl = self.start_dnsbl("list dbl.test { on ptr }")
        c = self.session(sl, source="127.0.0.6")            # PTR host.wild.test, .wild.test listed
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        self.assertIn("host.wild.test listed on dbl.test", r.text)
        rec = sl.wait_decision(event="policy.reject")
        self.assertEqual(rec["ptr"], "host.wild.test")

    def test_pipelined_commands_wait_for_the_verdict_in_order(self):
        fb, sl = self.start_dnsbl("list slow.test*1", "list zen.test*1", "timeout 800ms")
        c = self.session(sl, source="127.0.0.2")
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<x@example.test>\r\nRCPT TO:<y@example.test>\r\n"
               b"DATA\r\nNOOP\r\n")
        codes = [r.code for r in c.read_replies(5, timeout=5)]
        self.assertEqual(codes, [250, 554, 554, 503, 250])
        self.assertNotIn("RCPT", fb.all_verbs())


class TestEvidence(DnsblCase):
    def test_data_stage_keeps_evidence_and_never_reaches_the_backend(self):
        import glob, os, tempfile
        evdir = tempfile.mkdtemp(prefix="sluice-evidence-")
        self.addCleanup(lambda: [os.unlink(f) for f in glob.glob(evdir + "/*")] and None or os.rmdir(evdir))
        fb, sl = self.start(extra=self.dnsbl("list zen.test { txt on }", "stage data")
                            + ["evidence_dir %s" % evdir, "evidence_max 2k"])
        c = self.session(sl, source="127.0.0.2")
        # pipelined envelope: the DATA verdict waits for the backend's RCPT replies
        c.send(b"MAIL FROM:<spammer@client.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        codes = [r.code for r in c.read_replies(3, timeout=5)]
        self.assertEqual(codes, [250, 250, 354])
        msgid, raw = make_message(subject="Cheap watches", size=20000)
        c.send(raw + b".\r\n")
        r = c.read_reply(timeout=5)
        self.assertEqual(r.code, 554)
        ref = REF.search(r.text).group(1)
        c.cmd("MAIL FROM:<other@client.test>", expect=250)   # the session goes on (a new backend connection)
        c.cmd("RSET", expect=250)
        c.quit()
        self.assertEqual(fb.all_messages(), [])             # the backend never got the message
        self.assertNotIn("DATA", fb.all_verbs())
        rec = sl.wait_decision(ref=ref)
        self.assertEqual((rec["event"], rec["stage"], rec["msgid"]), ("policy.reject", "data", msgid))
        self.assertEqual(rec["headers"]["subject"], "Cheap watches")
        self.assertEqual(rec["headers"]["from"], "<sender@client.test>")
        self.assertTrue(rec["headers"]["date"])
        self.assertGreaterEqual(rec["size"], 20000)
        self.assertEqual(rec["evidence"], os.path.join(evdir, ref + ".eml"))
        with open(rec["evidence"], "rb") as f:
            kept = f.read()
        self.assertIn(b"Subject: Cheap watches", kept)
        self.assertIn(msgid.encode(), kept)
        self.assertLessEqual(len(kept), 2048)                # size-capped: headers only, not the 20 KB
        self.assertNotIn(b"xxxxxxxxxx", kept)


class TestFailures(DnsblCase):
    def test_timeout_passes_by_default_and_never_blocks_others(self):
        fb, sl = self.start_dnsbl("list slow.test*5", "timeout 1500ms")
        slow = self.session(sl, source="127.0.0.2")
        slow.cmd("MAIL FROM:<a@client.test>", expect=250)
        slow.send_line("RCPT TO:<alice@example.test>")
        t0 = time.monotonic()
        other = self.session(sl, source="127.0.0.5", helo="other.test")  # while the first one waits
        other.cmd("NOOP", expect=250)
        self.assertEqual(slow.read_available(wait=0), b"")    # ... the first is still waiting
        r = slow.read_reply(timeout=10)
        self.assertEqual(r.code, 250)
        self.assertGreaterEqual(time.monotonic() - t0, 1.4)   # it waited for the list timeout
        rec = sl.wait_decision(event="policy.pass")
        (sl_,) = rec["dnsbl"]["lists"]
        self.assertEqual((sl_["result"], sl_["on_failure"]), ("timeout", "pass"))

    def test_timeout_with_tempfail_policy(self):
        fb, sl = self.start_dnsbl("list slow.test { on_failure tempfail }", "timeout 500ms")
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=451, timeout=5)
        self.assertEqual(r.enhanced, "4.7.1")
        self.assertRegex(r.text, r"DNS list slow\.test unavailable; ref=[a-z2-9]{12}")
        rec = sl.wait_decision(event="policy.tempfail")
        self.assertEqual(rec["dnsbl"]["lists"][0]["result"], "timeout")

    def test_key_never_in_reply_and_redacted_in_record(self):
        fb, sl = self.start_dnsbl("list zen2.test { key secretkey42; txt on }")
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        self.assertNotIn("secretkey42", r.text)
        c.quit()
        rec = sl.wait_decision(event="policy.reject")
        self.assertEqual(rec["dnsbl"]["lists"][0]["query"], "2.0.0.127.<key>.zen2.test")
        with open(sl.decision_log) as f:
            self.assertNotIn("secretkey42", f.read())
        self.assertNotIn("secretkey42", sl.log_text())


class TestSyslog(DnsblCase):
    """With `log syslog` the decision is a line on facility mail. glibc's
    syslog() writes to /dev/log: the test listens there itself (created for
    the test, or bind-mounted over the real one in a private mount
    namespace), so it sees exactly what a syslog daemon would get."""

    def test_refusal_is_a_mail_facility_line(self):
        import os
        import tempfile
        sockdir = tempfile.mkdtemp(prefix="sluice-syslog-")
        path = os.path.join(sockdir, "log")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(path)
        rx.settimeout(5)
        self.addCleanup(lambda: (rx.close(), os.unlink(path), os.rmdir(sockdir)))
        if os.path.exists("/dev/log"):
            wrapper = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /dev/log && exec "$@"', path]
        else:
            os.symlink(path, "/dev/log")
            self.addCleanup(os.unlink, "/dev/log")
            wrapper = []
        fb, sl = self.start(extra=self.dnsbl("list zen.test { txt on }") + ["log syslog"], wrapper=wrapper,
                            ready="listen")
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        ref = REF.search(r.text).group(1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            msg = rx.recv(65536).decode("utf-8", "replace")
            if "ev=policy.reject" in msg:
                break
        m = re.match(r"<(\d+)>", msg)
        self.assertEqual(int(m.group(1)) >> 3, 2, msg)          # LOG_MAIL
        self.assertEqual(int(m.group(1)) & 7, 5, msg)           # notice
        self.assertIn("sluice[", msg)
        self.assertIn("ref=%s" % ref, msg)
        self.assertIn("client=127.0.0.2", msg)
        self.assertIn("rcpt=alice@example.test", msg)


class TestConfig(unittest.TestCase):
    """sluice -t on dns/dnsbl blocks: every mistake at FILE:LINE:COL."""

    BASE = "listen 127.0.0.1:2525\nbackend 127.0.0.1:10025\n"

    def check(self, text):
        status, out = check_config(self.BASE + text)
        self.assertNotEqual(status, 0, out)
        return out

    def test_good(self):
        status, out = check_config(self.BASE + "dns { servers 127.0.0.1:5353 ::1 [::1]:53; timeout 1s; tries 2 }\n"
                                   "dnsbl {\n  list \"zen.example=127.0.0.[2..11;20]*3\" { txt on; key abc-1 }\n"
                                   "  list dbl.example { on sender; on_failure score 2 }\n"
                                   "  list \"wl.example=127.0.[0..255].[1;3]*-2\"\n  threshold 3\n  allow_threshold -1\n"
                                   "  stage data\n  allow 10.0.0.0/8 2001:db8::/32\n"
                                   "  reply 550 5.7.1 \"{listed} on {list}: see https://example.org/why?ref={ref}\"\n}\n"
                                   "evidence_dir /tmp\nevidence_keep 90d\n")
        self.assertEqual(status, 0, out)

    def test_errors_point_at_the_word(self):
        cases = [
            ("dnsbl {\n  list zen.example=127.0.0.256\n}\n", ":4:8: bad list spec 'zen.example=127.0.0.256': column 21"),
            ("dnsbl {\n  list zen.example { on mx }\n}\n", ":4:25: 'mx': a list is on ip, ptr, helo or sender"),
            ("dnsbl {\n  list a.example\n  stage body\n}\n", ":5:9: 'body': the stage is"),
            ("dnsbl {\n  list a.example\n  reply 554 5.7.1 \"{nosuch}\"\n}\n", ":5:19: unknown field {nosuch}"),
            ("dnsbl {\n  list a.example\n  reply 454 5.7.1 x\n}\n", ":5:9: '454' is not a number from 500 to 599"),
            ("dnsbl {\n  list a.example { key \"a.b\" }\n}\n", ":4:24: a key is one DNS label"),
            ("dnsbl {\n  list a.example\n  allow 10.0.0.0/33\n}\n", ":5:9: '10.0.0.0/33' is not an address or network"),
            ("dnsbl {\n  threshold 3\n}\n", ":3:1: dnsbl needs at least one list"),
            ("dnsbl {\n  list a.example\n  threshold 1\n  allow_threshold 1\n}\n", "allow_threshold (1) must be below threshold (1)"),
            ("dnsbl zen.example\n", ":3:1: 'dnsbl' is configured with a block"),
            ("dns {\n  servers 127.0.0.1:99999\n}\n", ":4:11: bad DNS server '127.0.0.1:99999'"),
            ("dnsbl {\n  list wl.example=127.0.0.[1;3]\n}\n", "quote a spec that has one"),
            ("dns {\n  retries 3\n}\n", ":4:3: unknown dns option 'retries'"),
            ("evidence_keep 4000d\n", ":3:15: '4000d' is not a retention time"),
        ]
        for text, want in cases:
            with self.subTest(text=text):
                self.assertIn(want, self.check(text))


class TestIPv6(DnsblCase):
    def test_ipv6_client_in_nibble_list(self):
        port6 = free_port()
        fb, sl6 = self.start(extra=self.dnsbl("list v6.test*1 { txt on }") + ["listen [::1]:%d" % port6])
        c = RawClient(port6, host="::1", timeout=5)
        self.addCleanup(c.close)
        c.banner()
        c.ehlo("client.test")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        self.assertIn("[::1] listed on v6.test", r.text)
        rec = sl6.wait_decision(event="policy.reject")
        self.assertTrue(rec["dnsbl"]["lists"][0]["query"].endswith(".v6.test"))
        self.assertEqual(len(rec["dnsbl"]["lists"][0]["query"].split(".")), 32 + 2)


if __name__ == "__main__":
    runner.main()
