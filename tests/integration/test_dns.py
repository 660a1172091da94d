#!/usr/bin/env python3
"""proxy/dns.c (c-ares on the event loop, the TTL cache) against a real DNS
list server: rbldnsd from Debian on a loopback port, with a zone this test
writes. Driven through tests/dns/dnsq; no query leaves 127.0.0.1."""

import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import runner
from harness.sluice import free_port
from harness.util import make_tempdir, remove_tree

DNSQ = os.environ.get("DNSQ_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "tests", "dns", "dnsq"))
ZONE = """$TTL 300
:127.0.0.2:Listed on zen.test, see https://zen.test/lookup?ip=$
127.0.0.2
127.0.0.10 :127.0.0.10:Spam source $
"""


def parse(out):
    lines = {}
    for line in out.splitlines():
        fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
        key = " ".join(line.split()[:2])
        lines.setdefault(key, []).append({k: v.strip('"') for k, v in fields.items()})
    return lines


class DnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("rbldnsd") and not os.path.exists("/usr/sbin/rbldnsd"):
            raise unittest.SkipTest("rbldnsd is not installed")
        cls.dir = make_tempdir("sluice-rbl-")
        os.chmod(cls.dir, 0o755)
        with open(os.path.join(cls.dir, "zen.txt"), "w") as f:
            f.write(ZONE)
        os.chmod(os.path.join(cls.dir, "zen.txt"), 0o644)
        cls.port = free_port()
        cls.proc = subprocess.Popen(["/usr/sbin/rbldnsd", "-n", "-b", "127.0.0.1/%d" % cls.port, "-w", cls.dir,
                                     "zen.test:ip4set:zen.txt"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = cls.dnsq("A:2.0.0.127.zen.test")
            if "status=ok" in out:
                break
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(5)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
        remove_tree(cls.dir)

    @classmethod
    def dnsq(cls, *rounds, server=None, timeout_ms=500, min_ttl=0, max_ttl=86400):
        p = subprocess.run([DNSQ, server or "127.0.0.1:%d" % cls.port, str(timeout_ms), str(min_ttl), str(max_ttl)]
                           + list(rounds), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        return p.stdout

    def test_listed_answers_and_txt(self):
        r = parse(self.dnsq("A:2.0.0.127.zen.test,TXT:2.0.0.127.zen.test,A:10.0.0.127.zen.test"))
        self.assertEqual(r["A 2.0.0.127.zen.test"][0]["addrs"], "127.0.0.2")
        self.assertEqual(r["A 2.0.0.127.zen.test"][0]["ttl"], "300")
        self.assertEqual(r["TXT 2.0.0.127.zen.test"][0]["txt"],
                         "Listed on zen.test, see https://zen.test/lookup?ip=127.0.0.2")
        self.assertEqual(r["A 10.0.0.127.zen.test"][0]["addrs"], "127.0.0.10")

    def test_not_listed_is_nxdomain(self):
        r = parse(self.dnsq("A:1.0.0.127.zen.test"))
        self.assertEqual(r["A 1.0.0.127.zen.test"][0]["status"], "nxdomain")

    def test_cache_and_shared_queries(self):
        out = self.dnsq("A:2.0.0.127.zen.test,A:2.0.0.127.zen.test,A:1.0.0.127.zen.test",
                        "A:2.0.0.127.zen.test,A:1.0.0.127.zen.test", min_ttl=60)
        r = parse(out)
        a = r["A 2.0.0.127.zen.test"]
        self.assertEqual([x["cached"] for x in a], ["0", "0", "1"], out)
        nx = r["A 1.0.0.127.zen.test"]
        self.assertEqual([x["cached"] for x in nx], ["0", "1"], out)   # negative answers cached too
        self.assertEqual(nx[0]["ttl"], "60", out)                       # clamped up to min_ttl
        stats = r["stats queries=2"][0] if "stats queries=2" in r else None
        self.assertIsNotNone(stats, out)                                 # 2 queries for 5 requests
        self.assertEqual(stats["joined"], "1", out)

    def test_ttl_clamped_down_and_expiry(self):
        out = self.dnsq("A:2.0.0.127.zen.test", "A:2.0.0.127.zen.test", "sleep:1200", "A:2.0.0.127.zen.test",
                        max_ttl=1)
        a = parse(out)["A 2.0.0.127.zen.test"]
        self.assertEqual([x["ttl"] for x in a], ["1", "1", "1"], out)
        self.assertEqual([x["cached"] for x in a], ["0", "1", "0"], out)

    def test_silent_server_times_out(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        try:
            out = self.dnsq("A:2.0.0.127.zen.test", server="127.0.0.1:%d" % s.getsockname()[1], timeout_ms=300)
            self.assertIn("status=timeout", out)
        finally:
            s.close()


if __name__ == "__main__":
    runner.main()
