#!/usr/bin/env python3
"""The policy rules over facts from filters: the dnsbl filter gathers facts
only (verdict off) from a real rbldnsd behind dnsmasq, and the rules
decide: refusals with templates and reference ids, observe mode, accept,
add-header reaching the backend, skip, set, tables from files, the shipped
default policy, and decision records naming the rule and the facts it read."""

import os
import re
import unittest

from harness import runner
from harness.client import make_message
from harness.dnslab import DnsLab
from harness.sluice import check_config
from harness.util import make_tempdir, remove_tree, wait_until
from test_dnsbl import DnsblCase, ZEN, REF

DEFAULT_RULES = os.path.join(os.path.dirname(__file__), "..", "..", "rules", "default.rules")


class RulesCase(DnsblCase):
    def start_rules(self, *rules, dnsbl=("list zen.test*3 { txt on }", "threshold 3", "verdict off"), extra=()):
        lines = self.dnsbl(*dnsbl) + ["rules {"] + ["  " + r for r in rules] + ["}"] + list(extra)
        return self.start(extra=lines)


class TestRules(RulesCase):
    def test_reject_with_facts_and_ref_and_record(self):
        fb, sl = self.start_rules('rcpt: if dnsbl.score >= 3 and not auth then reject 554 5.7.1 '
                                  '"{client.ip} listed on {dnsbl.lists} (ref {ref})"')
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        self.assertRegex(r.text, r"^5\.7\.1 127\.0\.0\.2 listed on zen\.test \(ref [a-z2-9]{12}\)$")
        ref = re.search(r"ref ([a-z2-9]{12})", r.text).group(1)
        rec = sl.wait_decision(ref=ref)
        self.assertEqual((rec["event"], rec["filter"], rec["stage"], rec["action"]),
                         ("policy.reject", "rules", "rcpt", "reject"))
        with open(sl.config_path) as f:
            line = [i for i, l in enumerate(f, 1) if "dnsbl.score >= 3" in l][0]
        self.assertEqual(rec["rules"]["line"], line)                  # the rule's line in the config file
        self.assertTrue(rec["rules"]["file"].endswith("sluice.conf"))
        self.assertIn("dnsbl.score >= 3", rec["rules"]["rule"])
        self.assertEqual(rec["rules"]["read"], {"dnsbl.score": 3, "auth": "false"})
        self.assertNotIn("RCPT", fb.all_verbs())
        # dnsbl only gathered facts: clean clients pass, nothing else refused
        c2 = self.session(sl, source="127.0.0.5")
        c2.send_message("a@client.test", ["alice@example.test"], make_message()[1])

    def test_observe_mode_logs_would_reject(self):
        fb, sl = self.start_rules("observe on", 'rcpt: if dnsbl.listed then reject 554 5.7.1 "listed"')
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<alice@example.test>", expect=250)           # trialled, not enforced
        rec = sl.wait_decision(event="policy.pass")
        self.assertEqual((rec["filter"], rec["why"]), ("rules", "observe:reject"))
        self.assertEqual(rec["rules"]["observe"], "yes")

    def test_accept_ends_the_stage_and_cidr_lists(self):
        fb, sl = self.start_rules("rcpt: if client.ip in [127.0.0.2/32, 192.0.2.0/24] then accept",
                                  'rcpt: if dnsbl.listed then reject 554 5.7.1 "listed"')
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<alice@example.test>", expect=250)
        self.assertEqual(sl.wait_decision(event="policy.pass")["why"], "accept")

    def test_add_header_set_and_skip(self):
        fb, sl = self.start_rules('mail: set policy.tag = "vip"',
                                  'rcpt: add-header "X-Policy: tag={policy.tag} score={dnsbl.score}"',
                                  "connect: if client.ip in [127.0.0.3] then skip dnsbl",
                                  dnsbl=("list zen.test*3", "threshold 3", "verdict off"))
        c = self.session(sl, source="127.0.0.2")
        c.send_message("a@client.test", ["alice@example.test", "bob@example.test"], make_message()[1])
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)
        body = fb.all_messages()[0]
        self.assertEqual(body.count(b"X-Policy: tag=vip score=3\r\n"), 1)   # once, though two RCPTs
        mark = self.lab.mark()
        c3 = self.session(sl, source="127.0.0.3")                    # dnsbl skipped: no lookups at all
        c3.send_message("a@client.test", ["alice@example.test"], make_message()[1])
        wait_until(lambda: len(fb.all_messages()) == 2, timeout=5)
        self.assertIn(b"X-Policy: tag=vip score=\r\n", fb.all_messages()[1])  # no dnsbl.score fact

    def test_table_from_a_file(self):
        d = make_tempdir("sluice-rules-")
        self.addCleanup(remove_tree, d)
        table = os.path.join(d, "blocked")
        with open(table, "w") as f:
            f.write("# senders we never take\n@spam.example\n.bulk.example\n127.0.0.66\n")
        fb, sl = self.start_rules('mail: if sender in file:%s then reject 553 5.7.1 "{sender}: refused; ref={ref}"' % table)
        c = self.session(sl, source="127.0.0.5")
        c.cmd("MAIL FROM:<x@spam.example>", expect=553)
        c.cmd("MAIL FROM:<x@news.bulk.example>", expect=553)
        c.cmd("MAIL FROM:<x@ok.example>", expect=250)

    def test_table_in_lmdb(self):
        import subprocess
        d = make_tempdir("sluice-rules-lmdb-")
        self.addCleanup(remove_tree, d)
        os.mkdir(os.path.join(d, "db"))
        with open(os.path.join(d, "blocked.txt"), "w") as f:
            f.write("@spam.example\n1\n.bulk.example\n1\nceo@example.test\n1\n")   # key, value pairs
        subprocess.run(["mdb_load", "-T", "-f", os.path.join(d, "blocked.txt"), os.path.join(d, "db")], check=True)
        fb, sl = self.start_rules('mail: if sender in lmdb:%s then reject 553 5.7.1 "{sender}: refused"' % os.path.join(d, "db"))
        c = self.session(sl, source="127.0.0.5")
        c.cmd("MAIL FROM:<x@spam.example>", expect=553)
        c.cmd("MAIL FROM:<x@mx.bulk.example>", expect=553)
        c.cmd("MAIL FROM:<CEO@Example.Test>", expect=553)
        c.cmd("MAIL FROM:<x@ok.example>", expect=250)
        sl.reload()                                           # reopening the table on reload is safe
        c2 = self.session(sl, source="127.0.0.5")
        c2.cmd("MAIL FROM:<x@spam.example>", expect=553)

    def test_default_policy_file(self):
        fb, sl = self.start(extra=self.dnsbl("list zen.test=127.0.0.2*3", "list zen.test=127.0.0.4*1", "threshold 3",
                                             "verdict off") + ["include %s" % os.path.abspath(DEFAULT_RULES)])
        c = self.session(sl, source="127.0.0.2")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=554)
        self.assertIn("[127.0.0.2] listed on zen.test; ref=", r.text)
        rec = sl.wait_decision(event="policy.reject")
        self.assertTrue(rec["rules"]["file"].endswith("default.rules"))
        c3 = self.session(sl, source="127.0.0.3")                    # score 1: passes, the backend is told
        c3.send_message("a@client.test", ["alice@example.test"], make_message()[1])
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)
        self.assertIn(b"X-Sluice-DNSBL: score=1 lists=zen.test\r\n", fb.all_messages()[0])


class TestRulesConfig(unittest.TestCase):
    BASE = "listen 127.0.0.1:2525\nbackend 127.0.0.1:10025\n"

    def test_errors_with_positions(self):
        status, out = check_config(self.BASE + 'rules {\n  rcpt: if dnsbl.score >= then reject\n}\n')
        self.assertRegex(out, r"sluice\.conf:4:\d+: a comparison needs a value after its operator")
        status, out = check_config(self.BASE + "include nonexistent.rules\n")
        self.assertRegex(out, r"sluice\.conf:3:9: .*nonexistent\.rules")
        status, out = check_config(self.BASE + "include %s\n" % os.path.abspath(DEFAULT_RULES))
        self.assertEqual(status, 0, out)


if __name__ == "__main__":
    runner.main()
