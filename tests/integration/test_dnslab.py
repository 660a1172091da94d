#!/usr/bin/env python3
"""Self-test of harness/dnslab.py (DnsLab), without sluice: rbldnsd zones
(ip4set, ip6tset, dnset) reached through dnsmasq, dnsmasq's own PTR/A
records, nothing forwarded beyond 127.0.0.1, a silent server, zone reload,
errors and cleanup."""

import os
import time
import unittest

from harness import runner
from harness.dnslab import DnsLab, dnsbl_name, ptr_name
from harness.util import wait_until

ZONES = {
    "zen.test": ("ip4set", """$TTL 300
:127.0.0.2:Listed on zen.test, see https://zen.test/lookup?ip=$
127.0.0.2
127.0.0.10 :127.0.0.10:Spam source $
127.0.0.11 :127.0.0.4:
"""),
    "v6.test": ("ip6tset", """:127.0.0.3:IPv6 $ is listed
2001:db8:1:2
# ::/64, i.e. ::1 (a line starting with ':' would be the default A:TXT line)
0:0:0:0
"""),
    "dbl.test": ("dnset", """:127.0.1.2:Domain $ is listed
spam.test
.wild.test
"""),
    # every address "listed" with an error code, like a DNSBL refusing a
    # resolver (ip4set rejects "0/0"; ip4trie would take "0.0.0.0/0")
    "err.test": ("ip4set", """$TTL 60
:127.255.255.254:
0.0.0.0-255.255.255.255
"""),
}
PTR = {"127.0.0.5": "mail.good.test", "::1": "v6.good.test", "127.0.0.6": "mail.bad.test"}
HOSTS = {"mail.good.test": ["127.0.0.5"], "v6.good.test": ["::1"], "mail.bad.test": ["127.0.0.66"]}


class DnsLabTest(unittest.TestCase):
    lab = None

    @classmethod
    def setUpClass(cls):
        cls.lab = DnsLab(ZONES, ptr=PTR, hosts=HOSTS).start()

    @classmethod
    def tearDownClass(cls):
        if cls.lab:
            cls.lab.stop()

    def test_names(self):
        self.assertEqual(dnsbl_name("127.0.0.2", "zen.test"), "2.0.0.127.zen.test")
        self.assertEqual(dnsbl_name("spam.test", "dbl.test"), "spam.test.dbl.test")
        self.assertEqual(dnsbl_name("2001:db8:1:2::5", "v6.test"),
                         "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.v6.test")
        self.assertEqual(ptr_name("127.0.0.5"), "5.0.0.127.in-addr.arpa")
        self.assertTrue(self.lab.server.startswith("127.0.0.1:"))
        self.assertTrue(self.lab.rbl_server.startswith("127.0.0.1:"))
        self.assertNotEqual(self.lab.server, self.lab.rbl_server)

    def test_ip4set_listed_a_and_txt(self):
        lab = self.lab
        self.assertEqual(lab.query("2.0.0.127.zen.test"), ("NOERROR", ["127.0.0.2"]))
        self.assertEqual(lab.query("2.0.0.127.zen.test", "TXT"),
                         ("NOERROR", ["Listed on zen.test, see https://zen.test/lookup?ip=127.0.0.2"]))
        r = lab.lookup("2.0.0.127.zen.test")
        self.assertEqual(r.ttls(), [300], r)            # $TTL, unchanged by dnsmasq (no cache)
        self.assertTrue(r.aa, r)
        # per-entry A value and TXT template
        self.assertEqual(lab.query(dnsbl_name("127.0.0.10", "zen.test")), ("NOERROR", ["127.0.0.10"]))
        self.assertEqual(lab.query(dnsbl_name("127.0.0.10", "zen.test"), "TXT"),
                         ("NOERROR", ["Spam source 127.0.0.10"]))
        # ':4:' -> A 127.0.0.4 and no TXT at all
        self.assertEqual(lab.query(dnsbl_name("127.0.0.11", "zen.test")), ("NOERROR", ["127.0.0.4"]))
        self.assertEqual(lab.query(dnsbl_name("127.0.0.11", "zen.test"), "TXT"), ("NOERROR", []))
        # also straight from rbldnsd
        self.assertEqual(lab.query("2.0.0.127.zen.test", server=lab.rbl_server), ("NOERROR", ["127.0.0.2"]))

    def test_ip4set_not_listed(self):
        self.assertEqual(self.lab.query("1.0.0.127.zen.test"), ("NXDOMAIN", []))
        self.assertEqual(self.lab.query("1.0.0.127.zen.test", "TXT"), ("NXDOMAIN", []))
        self.assertEqual(self.lab.query("2.0.0.127.zen.test", "AAAA"), ("NOERROR", []))

    def test_error_code_zone(self):
        r = self.lab.lookup(dnsbl_name("192.0.2.1", "err.test"))
        self.assertEqual((r.rcode, r.values(), r.ttls()), ("NOERROR", ["127.255.255.254"], [60]), r)

    def test_ip6tset(self):
        lab = self.lab
        name = dnsbl_name("2001:db8:1:2::5", "v6.test")
        self.assertEqual(lab.query(name), ("NOERROR", ["127.0.0.3"]))
        self.assertEqual(lab.query(name, "TXT"), ("NOERROR", ["IPv6 2001:db8:1:2::5 is listed"]))
        r = lab.lookup(name)
        self.assertEqual(r.ttls(), [2100], r)           # no $TTL: rbldnsd's default 35m
        self.assertEqual(lab.query(dnsbl_name("2001:db8:1:2:ffff::1", "v6.test")), ("NOERROR", ["127.0.0.3"]))
        self.assertEqual(lab.query(dnsbl_name("2001:db8:1:3::5", "v6.test")), ("NXDOMAIN", []))
        self.assertEqual(lab.query(dnsbl_name("::1", "v6.test")), ("NOERROR", ["127.0.0.3"]))
        self.assertEqual(lab.query(dnsbl_name("::1", "v6.test"), "TXT"), ("NOERROR", ["IPv6 ::1 is listed"]))
        # only the full 32-nibble form is looked up
        self.assertEqual(lab.query("2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.v6.test"), ("NXDOMAIN", []))

    def test_dnset(self):
        lab = self.lab
        self.assertEqual(lab.query("spam.test.dbl.test"), ("NOERROR", ["127.0.1.2"]))
        self.assertEqual(lab.query("spam.test.dbl.test", "TXT"), ("NOERROR", ["Domain spam.test is listed"]))
        self.assertEqual(lab.query("sub.spam.test.dbl.test"), ("NXDOMAIN", []))   # not a wildcard
        self.assertEqual(lab.query("wild.test.dbl.test"), ("NOERROR", ["127.0.1.2"]))
        self.assertEqual(lab.query("a.b.wild.test.dbl.test"), ("NOERROR", ["127.0.1.2"]))
        # '$' is the listed entry, not the queried name
        self.assertEqual(lab.query("a.b.wild.test.dbl.test", "TXT"), ("NOERROR", ["Domain wild.test is listed"]))
        self.assertEqual(lab.query("ham.test.dbl.test"), ("NXDOMAIN", []))

    def test_ptr_and_forward(self):
        lab = self.lab
        self.assertEqual(lab.query("5.0.0.127.in-addr.arpa", "PTR"), ("NOERROR", ["mail.good.test"]))
        self.assertEqual(lab.query("mail.good.test"), ("NOERROR", ["127.0.0.5"]))
        self.assertEqual(lab.query("mail.good.test", "AAAA"), ("NOERROR", []))     # NODATA
        r = lab.lookup(ptr_name("127.0.0.5"), "PTR")
        self.assertEqual(r.ttls(), [300], r)           # local_ttl
        self.assertEqual(lab.query(ptr_name("::1"), "PTR"), ("NOERROR", ["v6.good.test"]))
        self.assertEqual(lab.query("v6.good.test", "AAAA"), ("NOERROR", ["::1"]))
        # forward-confirmation mismatch
        self.assertEqual(lab.query(ptr_name("127.0.0.6"), "PTR"), ("NOERROR", ["mail.bad.test"]))
        self.assertEqual(lab.query("mail.bad.test"), ("NOERROR", ["127.0.0.66"]))
        # no PTR at all, unknown names in local domains
        self.assertEqual(lab.query(ptr_name("127.0.0.7"), "PTR"), ("NXDOMAIN", []))
        self.assertEqual(lab.query("nothere.good.test"), ("NXDOMAIN", []))

    def test_outside_names_are_not_forwarded(self):
        lab = self.lab
        mark = lab.mark()
        for name, qtype in (("example.com", "A"), ("example.com", "MX"), ("localhost", "A"),
                            ("8.8.8.8.in-addr.arpa.example.net", "A")):
            r = lab.lookup(name, qtype, timeout=2)
            self.assertIn(r.rcode, ("REFUSED", "NXDOMAIN"), (name, r))
            self.assertLess(r.elapsed, 0.5, (name, r))
            self.assertEqual(r.answers, [], r)
        self.assertEqual(lab.query("example.com"), ("REFUSED", []))
        # the log shows the queries, and nothing forwarded for them
        wait_until(lambda: len([q for q in lab.queries(mark) if q[1] == "example.com"]) >= 3, 5,
                   what="dnsmasq logging the queries")
        self.assertEqual(lab.forwarded(mark), [], lab.dnsmasq_log(mark))
        self.assertNotIn("forwarded example.com", lab.dnsmasq_log())
        # everything dnsmasq ever forwarded went to rbldnsd
        rbl = lab.rbl_server.replace(":", "#")
        self.assertEqual({to for _n, to in lab.forwarded(0)}, {rbl})
        for line in lab.dnsmasq_log().splitlines():
            self.assertNotRegex(line, r"using nameserver (?!127\.0\.0\.1#%d\b)" % lab.rbl_port)

    def test_silent_server_times_out(self):
        s = self.lab.silent_server()
        t0 = time.monotonic()
        self.assertEqual(self.lab.query("2.0.0.127.zen.test", server=s, timeout=0.4), ("TIMEOUT", []))
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)

    def test_only_loopback_servers(self):
        with self.assertRaises(ValueError):
            self.lab.query("example.com", server="192.0.2.1:53")


class DnsLabLifecycleTest(unittest.TestCase):
    def test_update_zone_and_cleanup(self):
        lab = DnsLab({"bl.test": ("ip4set", "127.0.0.2\n")})
        with lab:
            d, procs = lab.dir, (lab.rbldnsd, lab.dnsmasq)
            silent = lab.silent_server()
            self.assertEqual(lab.query("3.0.0.127.bl.test"), ("NXDOMAIN", []))
            lab.update_zone("bl.test", ("ip4set", ":127.0.0.9:now $\n127.0.0.2\n127.0.0.3\n"))
            self.assertEqual(lab.query("3.0.0.127.bl.test"), ("NOERROR", ["127.0.0.9"]))
            self.assertEqual(lab.query("3.0.0.127.bl.test", "TXT"), ("NOERROR", ["now 127.0.0.3"]))
            lab.update_zone("bl.test", ("ip4set", "127.0.0.2\n"))     # within the same second
            self.assertEqual(lab.query("3.0.0.127.bl.test"), ("NXDOMAIN", []))
        self.assertIsNotNone(procs[0].poll())
        self.assertIsNotNone(procs[1].poll())
        if not os.environ.get("SLUICE_TEST_KEEP"):
            self.assertFalse(os.path.exists(d))
        self.assertEqual(lab._silent, [])
        self.assertTrue(silent)

    def test_bad_data_line_is_an_error(self):
        lab = DnsLab({"v6.test": ("ip6tset", "2001:db8::/32\n")})
        with self.assertRaisesRegex(RuntimeError, "rejected data lines"):
            lab.start()
        self.assertIsNone(lab.dir)
        self.assertIsNotNone(lab.rbldnsd.poll())

    def test_missing_binary_is_an_error_not_a_skip(self):
        lab = DnsLab({"bl.test": ("ip4set", "127.0.0.2\n")}, dnsmasq_bin="/nonexistent/dnsmasq")
        with self.assertRaisesRegex(RuntimeError, "dnsmasq-base"):
            lab.start()
        self.assertIsNone(lab.dir)


if __name__ == "__main__":
    runner.main()
