#!/usr/bin/env python3
"""The spf filter (libspf2, in a thread pool, its DNS through sluice's
configured resolver) against SPF records served by a real dnsmasq on
loopback: results as facts, Received-SPF for the backend, and a rule
refusing fail with the explanation.

libspf2 passes every loopback client ("localhost is always allowed"), so
this test runs in a private network namespace whose loopback interface
also carries 192.0.2.41-43 (TEST-NET-1): nothing can leave the namespace,
and the clients have addresses SPF really evaluates."""

import os
import sys
import unittest

if os.environ.get("SLUICE_IN_NETNS") != "1":
    os.environ["SLUICE_IN_NETNS"] = "1"
    setup = "ip link set lo up && " + " && ".join("ip addr add 192.0.2.%d/32 dev lo" % i for i in (41, 42, 43))
    os.execvp("unshare", ["unshare", "-n", "sh", "-c", setup + ' && exec "$0" "$@"', sys.executable] + sys.argv)

from harness import runner
from harness.cases import SluiceCase
from harness.client import make_message
from harness.dnslab import DnsLab
from harness.util import wait_until


class SpfTest(SluiceCase):
    @classmethod
    def setUpClass(cls):
        txt = {
            "good.test": "v=spf1 ip4:192.0.2.41 -all",
            "soft.test": "v=spf1 ip4:192.0.2.41 ~all",
            "inc.test": "v=spf1 include:good.test a:mx.inc.test -all",
            "broken.test": "v=spf1 ip4:192.0.2.41 foo:bar -all",
            "helo.test": "v=spf1 ip4:192.0.2.43 -all",
        }
        args = ["--txt-record=%s,%s" % (d, r) for d, r in txt.items()]   # argv: no shell quoting
        cls.lab = DnsLab({"zen.test": ("ip4set", "$TTL 300\n127.0.0.250\n")},
                         hosts={"mx.inc.test": ["192.0.2.42"], "mail.good.test": ["192.0.2.41"]},
                         local_domains=("test", "in-addr.arpa", "ip6.arpa"), dnsmasq_args=args).start()

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()

    def start_spf(self, *rules):
        return self.start(extra=["dns {", "  servers %s" % self.lab.server, "  timeout 500ms", "}",
                                 "spf { helo on }", "rules {"] + ["  " + r for r in rules] + ["}"])

    def spf_of(self, sl, source, sender, helo="client.test"):
        c = self.session(sl, source=source, helo=helo)
        c.cmd("MAIL FROM:<%s>" % sender, expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=550)
        c.quit()
        return dict(kv.split("=", 1) for kv in r.text.split("|")[1:])

    SHOW = 'rcpt: reject 550 5.7.1 "spf|result={spf.result}|helo={spf.helo}|reason={spf.reason}"'

    def test_results(self):
        fb, sl = self.start_spf(self.SHOW)
        self.assertEqual(self.spf_of(sl, "192.0.2.41", "a@good.test")["result"], "pass")
        self.assertEqual(self.spf_of(sl, "192.0.2.42", "a@good.test")["result"], "fail")
        self.assertEqual(self.spf_of(sl, "192.0.2.42", "a@soft.test")["result"], "softfail")
        self.assertEqual(self.spf_of(sl, "192.0.2.42", "a@inc.test")["result"], "pass")       # a: mechanism
        self.assertEqual(self.spf_of(sl, "192.0.2.41", "a@inc.test")["result"], "pass")       # include:
        self.assertEqual(self.spf_of(sl, "192.0.2.41", "a@nospf.test")["result"], "none")
        self.assertEqual(self.spf_of(sl, "192.0.2.41", "a@broken.test")["result"], "permerror")
        f = self.spf_of(sl, "192.0.2.43", "a@good.test", helo="helo.test")
        self.assertEqual((f["result"], f["helo"]), ("fail", "pass"))

    def test_fail_refused_by_rule_with_explanation_and_header_for_pass(self):
        fb, sl = self.start_spf('rcpt: if spf.result == fail then reject 550 5.7.23 "{spf.reason}; ref={ref}"')
        c = self.session(sl, source="192.0.2.42")
        c.cmd("MAIL FROM:<a@good.test>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=550)
        self.assertEqual(r.enhanced, "5.7.23")
        self.assertIn("good.test", r.text)
        rec = sl.wait_decision(event="policy.reject")
        self.assertEqual(rec["rules"]["read"]["spf.result"], "fail")
        ok = self.session(sl, source="192.0.2.41")
        ok.send_message("a@good.test", ["alice@example.test"], make_message(mail_from="a@good.test")[1])
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)
        head = fb.all_messages()[0].split(b"\r\n\r\n")[0]
        self.assertRegex(head, rb"^Received-SPF: pass \(")
        self.assertIn(b"client-ip=192.0.2.41", head)

    def test_queries_only_the_configured_server(self):
        mark = self.lab.mark()
        fb, sl = self.start_spf(self.SHOW)
        self.spf_of(sl, "192.0.2.41", "a@good.test")
        names = [q[1] for q in self.lab.queries(mark)]
        self.assertIn("good.test", names)                      # SPF went through the test's resolver


if __name__ == "__main__":
    runner.main()
