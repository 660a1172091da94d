#!/usr/bin/env python3
"""The rdns and helo filters against a real DNS server (dnsmasq on loopback,
PTR/A/AAAA records the test writes): their facts, rules acting on them, and
the confirmed name travelling to the backend in XCLIENT NAME."""

import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.client import RawClient
from harness.dnslab import DnsLab
from harness.sluice import free_port


class RdnsHeloTest(SluiceCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = DnsLab({"zen.test": ("ip4set", "$TTL 300\n127.0.0.250\n")},
                         ptr={"127.0.0.5": "mail.good.test", "127.0.0.6": "liar.test",
                              "127.0.0.8": "dyn-127-0-0-8.pool.test", "::1": "six.good.test"},
                         hosts={"mail.good.test": ["127.0.0.5"], "liar.test": ["127.0.0.99"],
                                "dyn-127-0-0-8.pool.test": ["127.0.0.8"], "six.good.test": ["::1"]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()

    def start_filters(self, *rules, extra=()):
        lines = ["dns {", "  servers %s" % self.lab.server, "  timeout 500ms", "}", "rdns { timeout 2s }",
                 "helo { }", "rules {"] + ["  " + r for r in rules] + ["}"] + list(extra)
        return self.start(extra=lines)

    def facts_of(self, sl, source, helo="client.test", host="127.0.0.1", port=None):
        """A session whose MAIL is refused by a rule that prints every fact."""
        c = RawClient(port or sl.port, host=host, source=source if host == "127.0.0.1" else None, timeout=10)
        self.addCleanup(c.close)
        c.banner()
        c.cmd("EHLO %s" % helo)
        r = c.cmd("MAIL FROM:<a@client.test>", expect=550)
        return dict(kv.split("=", 1) for kv in r.text.split("|")[1:])

    SHOW = ('mail: reject 550 5.7.1 "facts|name={rdns.name}|none={rdns.none}|fcrdns={rdns.fcrdns}'
            '|generic={rdns.generic}|ok={helo.syntax_ok}|lit={helo.literal}|litok={helo.literal_matches}'
            '|bare={helo.bare_ip}|fqdn={helo.fqdn}|ours={helo.ours}"')

    def test_confirmed_name(self):
        fb, sl = self.start_filters(self.SHOW)
        f = self.facts_of(sl, "127.0.0.5")
        self.assertEqual((f["name"], f["none"], f["fcrdns"], f["generic"]), ("mail.good.test", "false", "true", "false"))
        # the confirmed name reaches Postfix's XCLIENT NAME
        self.assertEqual(fb.connections[-1].xclient[0]["NAME"], "mail.good.test")

    def test_unconfirmed_missing_and_generic(self):
        fb, sl = self.start_filters(self.SHOW)
        f = self.facts_of(sl, "127.0.0.6")
        self.assertEqual((f["name"], f["fcrdns"]), ("liar.test", "false"))
        self.assertEqual(fb.connections[-1].xclient[0]["NAME"], "[UNAVAILABLE]")   # never an unconfirmed name
        f = self.facts_of(sl, "127.0.0.7")
        self.assertEqual((f["name"], f["none"], f["fcrdns"]), ("", "true", "false"))
        f = self.facts_of(sl, "127.0.0.8")
        self.assertEqual((f["fcrdns"], f["generic"]), ("true", "true"))

    def test_ipv6_client(self):
        port6 = free_port()
        fb, sl = self.start_filters(self.SHOW, extra=["listen [::1]:%d" % port6])
        f = self.facts_of(sl, None, host="::1", port=port6)
        self.assertEqual((f["name"], f["fcrdns"]), ("six.good.test", "true"))

    def test_helo_facts(self):
        fb, sl = self.start_filters(self.SHOW)
        self.assertEqual(self.facts_of(sl, "127.0.0.5", helo="[127.0.0.5]")["litok"], "true")
        f = self.facts_of(sl, "127.0.0.5", helo="[127.0.0.9]")
        self.assertEqual((f["lit"], f["litok"]), ("true", "false"))
        self.assertEqual(self.facts_of(sl, "127.0.0.5", helo="127.0.0.5")["bare"], "true")
        self.assertEqual(self.facts_of(sl, "127.0.0.5", helo="mx.sluice.test")["ours"], "true")
        f = self.facts_of(sl, "127.0.0.5", helo="desktop")
        self.assertEqual((f["ok"], f["fqdn"]), ("true", "false"))
        self.assertEqual(self.facts_of(sl, "127.0.0.5", helo="bad_host!")["ok"], "false")

    def test_rules_on_the_facts(self):
        fb, sl = self.start_filters('helo: if helo.ours and not auth then reject 550 5.7.1 "{helo}: you are not me"',
                                    'rcpt: if rdns.none or not rdns.fcrdns then tempfail 450 4.7.25 '
                                    '"Client host rejected: cannot find your hostname [{client.ip}]"')
        c = self.client(sl, source="127.0.0.5")
        c.banner()
        self.assertIn("mx.sluice.test: you are not me", c.cmd("EHLO mx.sluice.test", expect=550).text)
        c.cmd("EHLO mail.good.test", expect=250)
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RCPT TO:<alice@example.test>", expect=250)
        c2 = self.session(sl, source="127.0.0.7")
        c2.cmd("MAIL FROM:<a@client.test>", expect=250)
        r = c2.cmd("RCPT TO:<alice@example.test>", expect=450)
        self.assertEqual(r.enhanced, "4.7.25")
        rec = sl.wait_decision(event="policy.tempfail")
        self.assertEqual(rec["rules"]["read"]["rdns.none"], "true")


if __name__ == "__main__":
    runner.main()
