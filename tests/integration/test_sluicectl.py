#!/usr/bin/env python3
"""sluicectl why, end to end: a real sluice with the dnsbl filter (rbldnsd
serving the lists, dnsmasq the resolver, on loopback) writes the decision
log; the tool is run on it as an admin would, by reference id, client
address, Message-ID and session id, on a rotated set of files and through
the configuration file."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

from harness import runner
from harness.client import RawClient, make_message
from harness.dnslab import DnsLab
from harness.fakebackend import FakeBackend
from harness.sluice import Sluice
from harness.util import make_tempdir, register_cleanup, remove_tree, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "..", "tools", "sluicectl")

ZEN = """$TTL 300
:127.0.0.2:Listed since 2026-01-01, see https://zen.test/q?ip=$
127.0.0.2
"""
DBL = """$TTL 300
:127.0.1.2:Domain $ is listed
spam.test
"""
REF = re.compile(r"ref=([a-z2-9]{12})")
SESSION = re.compile(r"^session ([0-9a-f]{16})\b", re.M)


def sluicectl(*args):
    """Run the tool; (exit status, stdout, stderr)."""
    p = subprocess.run([sys.executable, TOOL] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class SluicectlCase(unittest.TestCase):
    """One sluice run for the class: a listed client refused at RCPT, then a
    clean client that sends two messages in two sessions."""

    @classmethod
    def setUpClass(cls):
        runner.require_sluice()
        cls.lab = DnsLab({"zen.test": ("ip4set", ZEN), "dbl.test": ("dnset", DBL)},
                         ptr={"127.0.0.2": "host.dyn.test", "127.0.0.5": "mail.good.test"},
                         hosts={"mail.good.test": ["127.0.0.5"]}).start()
        try:
            cls.fb = FakeBackend(queue_id=lambda conn, n: "4Xq%dZt7" % n).start()
            conf = ["dns {", "  servers %s" % cls.lab.server, "  timeout 1s", "}",
                    "dnsbl {", "  list zen.test=127.0.0.[2..11]*3 { txt on }", "  list dbl.test { on ptr }",
                    "  threshold 3", "}"]
            cls.sl = Sluice(backend=cls.fb, hostname="mx.sluice.test", extra=conf,
                            timeouts={"command": "2s", "idle": "5s", "data": "5s"}).start()
            cls.produce()
            cls.tmp = make_tempdir("sluicectl-")
            register_cleanup(lambda: remove_tree(cls.tmp))
            # the log as it is now: the tests read this copy, sluice goes on writing its own
            cls.log = os.path.join(cls.tmp, "decisions.jsonl")
            shutil.copy(cls.sl.decision_log, cls.log)
            with open(cls.log) as f:
                cls.lines = [ln.rstrip("\n") for ln in f if ln.strip()]
            cls.records = [json.loads(ln) for ln in cls.lines]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        first = None
        for name in ("sl", "fb", "lab"):
            obj = getattr(cls, name, None)
            if obj is not None:
                try:
                    obj.__exit__(None, None, None) if name == "sl" else obj.stop()
                except Exception as e:  # stop the rest, then report the first
                    first = first or e
        if first is not None:
            raise first

    @classmethod
    def produce(cls):
        sl = cls.sl
        # 1: a listed client, refused at RCPT
        c = RawClient(sl.port, source="127.0.0.2", timeout=5)
        c.banner()
        c.ehlo("client.test")
        c.cmd("MAIL FROM:<sender@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        cls.ref = REF.search(r.text).group(1)
        cls.reply = r.text
        c.quit()
        c.close()
        # 2 and 3: a clean client, one message per session
        cls.msgids = []
        for i in range(2):
            msgid, msg = make_message(subject="hello %d" % i)
            c = RawClient(sl.port, source="127.0.0.5", timeout=5)
            c.banner()
            c.ehlo("mail.good.test")
            c.send_message("bob@good.test", ["alice@example.test"], msg)
            c.quit()
            c.close()
            cls.msgids.append(msgid)
            sl.wait_decision(event="msg.accept", msgid=msgid)
        wait_until(lambda: len([d for d in sl.decisions() if d["event"] == "conn.close"
                                and d["client"] in ("127.0.0.2", "127.0.0.5")]) >= 3, timeout=10,
                   what="three conn.close records")
        rej = sl.wait_decision(ref=cls.ref)
        cls.rej_sid = rej["sid"]
        cls.rej = rej
        cls.acc = [sl.wait_decision(event="msg.accept", msgid=m) for m in cls.msgids]
        cls.acc_sids = [a["sid"] for a in cls.acc]

    def why(self, *args, files=None):
        extra = []
        for f in files or [self.log]:
            extra += ["-f", f]
        return sluicectl("why", *(list(args) + extra))

    def lines_of(self, sid, lines=None):
        return [ln for ln in (lines or self.lines) if json.loads(ln).get("sid") == sid]


class TestQueries(SluicectlCase):
    def test_by_ref_tells_the_story(self):
        rc, out, err = self.why(self.ref)
        self.assertEqual(rc, 0, err)
        self.assertEqual(SESSION.findall(out), [self.rej_sid])
        self.assertIn("client 127.0.0.2", out)
        self.assertIn("ptr host.dyn.test", out)
        self.assertIn("helo client.test", out)
        # the decision, marked as the one asked about
        self.assertRegex(out, r"(?m)^> \d\d:\d\d:\d\d\.\d{3}  dnsbl at rcpt: REJECT \(listed\)  ref=%s$" % self.ref)
        self.assertIn("from <sender@client.test> to <alice@example.test>", out)
        self.assertIn("score 3 >= threshold 3", out)
        # what each list answered: the address, its TXT, the TTL, the weight and what it added
        self.assertRegex(out, r'zen\.test \(ip \[127\.0\.0\.2\]\): listed 127\.0\.0\.2 "Listed since 2026-01-01, '
                              r'see https://zen\.test/q\?ip=127\.0\.0\.2"; ttl 300, \d+ ms, weight 3 -> \+3')
        self.assertRegex(out, r"dbl\.test \(ptr host\.dyn\.test\): not listed; \d+ ms, weight 1 -> \+0")
        self.assertIn("reply: " + self.rej["reply"], out)
        self.assertIn(self.reply, out)
        # and how it ended
        self.assertRegex(out, r"disconnected after \d+\.\d+ s \(quit\)")
        self.assertIn("rcpt 0/1", out)
        self.assertLess(out.index("REJECT"), out.index("disconnected"))
        self.assertEqual(err, "")

    def test_ref_forms_and_verbose(self):
        rc, out, _ = self.why("ref=" + self.ref, "-v")
        self.assertEqual(rc, 0)
        self.assertIn("query 2.0.0.127.zen.test", out)
        self.assertIn("config %s" % self.rej["config"], out)

    def test_by_ip(self):
        rc, out, err = self.why("127.0.0.2")
        self.assertEqual(rc, 0, err)
        self.assertEqual(SESSION.findall(out), [self.rej_sid])
        self.assertIn("REJECT (listed)", out)
        self.assertNotRegex(out, r"(?m)^>")              # every record is the client's: none marked
        rc, out2, _ = self.why("[127.0.0.2]")
        self.assertEqual((rc, out2), (0, out))
        rc, out, _ = self.why("127.0.0.5")
        self.assertEqual(rc, 0)
        self.assertEqual(SESSION.findall(out), self.acc_sids)   # oldest first
        self.assertNotIn(self.rej_sid, out)

    def test_by_message_id(self):
        msgid = self.msgids[1]
        for q in (msgid, msgid.strip("<>")):
            rc, out, err = self.why(q)
            self.assertEqual(rc, 0, err)
            self.assertEqual(SESSION.findall(out), [self.acc_sids[1]])
            self.assertIn("client 127.0.0.5", out)
            self.assertRegex(out, r"(?m)^> .*message accepted by the backend: queue id %s$"
                             % re.escape(self.acc[1]["queue_id"]))
            self.assertIn("msgid %s" % msgid, out)
            self.assertIn("from <bob@good.test> to <alice@example.test>", out)
            self.assertIn("reply: 250 2.0.0 Ok: queued as %s" % self.acc[1]["queue_id"], out)
            self.assertNotIn(self.msgids[0], out)
        self.assertNotEqual(self.acc[0]["queue_id"], self.acc[1]["queue_id"])

    def test_by_session_id(self):
        rc, out, _ = self.why(self.acc_sids[0])
        self.assertEqual(rc, 0)
        self.assertEqual(SESSION.findall(out), [self.acc_sids[0]])

    def test_json_prints_the_raw_records(self):
        rc, out, _ = self.why(self.ref, "--json")
        self.assertEqual(rc, 0)
        self.assertEqual(out.splitlines(), self.lines_of(self.rej_sid))
        events = [json.loads(ln)["event"] for ln in out.splitlines()]
        self.assertEqual(events, ["policy.reject", "conn.close"])

    def test_nothing_found(self):
        rc, out, err = self.why("zzzzzzzzzzzz")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("nothing found", err)
        rc, out, err = self.why("192.0.2.99")
        self.assertEqual((rc, out), (1, ""))
        rc, out, err = self.why("<nosuchmessage@nowhere.test>")
        self.assertEqual((rc, out), (1, ""))

    def test_since(self):
        rc, out, err = self.why(self.ref, "--since", "2999-01-01")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("nothing found", err)
        rc, out, err = self.why(self.ref, "--since", "1h")
        self.assertEqual(rc, 0, err)
        since = self.acc[1]["ts"]
        rc, out, err = self.why("127.0.0.5", "--since", since[:23], "--json")
        self.assertEqual(rc, 0, err)
        # the second session; the first only if it ended in that very millisecond
        want = [sid for sid in self.acc_sids if any(json.loads(ln)["ts"] >= since for ln in self.lines_of(sid))]
        self.assertIn(self.acc_sids[1], want)
        self.assertEqual(out.splitlines(), sum((self.lines_of(sid) for sid in want), []))
        day = self.rej["ts"][:10]
        rc, _, _ = self.why(self.ref, "--since", day, "--until", day)
        self.assertEqual(rc, 0)
        rc, _, _ = self.why(self.ref, "--until", "2000-01-01T00:00")
        self.assertEqual(rc, 1)

    def test_usage_errors(self):
        rc, _, err = self.why("not-a-query")
        self.assertEqual(rc, 2)
        self.assertIn("not a reference id", err)
        rc, _, err = self.why(self.ref, "--since", "yesterday")
        self.assertEqual(rc, 2)
        rc, _, err = self.why(self.ref, files=[os.path.join(self.tmp, "nonexistent.jsonl")])
        self.assertEqual(rc, 2)
        self.assertIn("nonexistent.jsonl", err)
        rc, _, err = sluicectl()
        self.assertEqual(rc, 2)
        rc, out, _ = sluicectl("--help")
        self.assertEqual(rc, 0)
        self.assertIn("why", out)
        rc, out, _ = sluicectl("why", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--since", out)
        self.assertIn("Message-ID", out)


class TestFiles(SluicectlCase):
    def rotated(self, name):
        """The log cut as logrotate would have: PATH.2.gz, PATH.1, PATH. The
        refused session's decision is in PATH.2.gz and its end in PATH.1; the
        first message in PATH.1, its session's end and the second message in PATH."""
        d = os.path.join(self.tmp, name)
        os.mkdir(d)
        path = os.path.join(d, "decisions.jsonl")
        ev = [json.loads(ln) for ln in self.lines]
        cut1 = next(i for i, r in enumerate(ev) if r["sid"] == self.rej_sid and r["event"] == "conn.close")
        cut2 = next(i for i, r in enumerate(ev) if r["sid"] == self.acc_sids[0] and r["event"] == "conn.close")
        self.assertLess(cut1, cut2)
        parts = [self.lines[:cut1], self.lines[cut1:cut2], self.lines[cut2:]]
        with gzip.open(path + ".2.gz", "wt") as f:
            f.write("".join(ln + "\n" for ln in parts[0]))
        with open(path + ".1", "w") as f:
            f.write("".join(ln + "\n" for ln in parts[1]))
        with open(path, "w") as f:
            f.write("".join(ln + "\n" for ln in parts[2]))
            # a damaged line of the second session (a full disk, an editor): skipped and counted
            f.write('{"ts":"%s","event":"msg.accept","sid":"%s","client":\n' % (self.acc[1]["ts"], self.acc_sids[1]))
        return path

    def test_rotated_set_read_in_order(self):
        path = self.rotated("rot")
        rc, out, err = self.why(self.ref, files=[path])
        self.assertEqual(rc, 0, err)
        self.assertEqual(SESSION.findall(out), [self.rej_sid])
        self.assertLess(out.index("REJECT (listed)"), out.index("disconnected"))   # .2.gz, then .1
        rc, out, err = self.why("127.0.0.5", "--json", files=[path])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines(), self.lines_of(self.acc_sids[0]) + self.lines_of(self.acc_sids[1]))
        self.assertIn("skipped 1 malformed line", err)
        rc, out, _ = self.why(self.msgids[0], files=[path])
        self.assertEqual(rc, 0)
        self.assertIn("queue id %s" % self.acc[0]["queue_id"], out)          # in PATH.1
        self.assertIn("disconnected", out)                                   # in PATH
        # only the file named
        rc, _, _ = self.why(self.ref, "--no-rotated", files=[path])
        self.assertEqual(rc, 1)
        rc, _, _ = self.why(self.ref, "--no-rotated", files=[path + ".2.gz"])
        self.assertEqual(rc, 0)

    def test_dateext_and_overlap(self):
        d = os.path.join(self.tmp, "dateext")
        os.mkdir(d)
        path = os.path.join(d, "decisions.jsonl")
        with gzip.open(path + "-20261101.gz", "wt") as f:
            f.write("".join(ln + "\n" for ln in self.lines_of(self.rej_sid)))
        with open(path, "w") as f:
            f.write("".join(ln + "\n" for ln in self.lines))
        # the same records in two files are shown once
        rc, out, err = self.why(self.ref, "--json", files=[path])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines(), self.lines_of(self.rej_sid))

    def test_log_found_through_the_config(self):
        # sluice's own configuration names its live log
        rc, out, err = sluicectl("why", self.ref, "-c", self.sl.config_path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(SESSION.findall(out), [self.rej_sid])
        # quoted, commented, a decision_log inside a block is not the daemon's
        conf = os.path.join(self.tmp, "sluice.conf")
        with open(conf, "w") as f:
            f.write('# sluicectl test\nhostname mx.test   # decision_log /nowhere\n'
                    'other { decision_log /nowhere/either }\n'
                    'decision_log "%s"   # the one\n' % self.log)
        rc, out, err = sluicectl("why", self.ref, "-c", conf)
        self.assertEqual(rc, 0, err)
        self.assertEqual(SESSION.findall(out), [self.rej_sid])
        with open(conf, "w") as f:
            f.write("decision_log off\n")
        rc, _, err = sluicectl("why", self.ref, "-c", conf)
        self.assertEqual(rc, 2)
        self.assertIn("decision_log", err)


if __name__ == "__main__":
    runner.main()
