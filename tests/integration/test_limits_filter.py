#!/usr/bin/env python3
"""The limits filter: connection, message and recipient rates counted in an
LMDB store (shared by the workers), per client address, sender and AUTH
user; over a limit the command is deferred (or the facts go to the rules)."""

import base64
import os
import subprocess
import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.sluice import check_config
from harness.util import make_tempdir, remove_tree


class LimitsTest(SluiceCase):
    def setUp(self):
        super().setUp()
        self.dir = make_tempdir("sluice-limits-")
        self.addCleanup(remove_tree, self.dir)

    def start_limits(self, *lines, extra=()):
        return self.start(extra=["limits {", "  store %s" % os.path.join(self.dir, "state")]
                          + ["  " + l for l in lines] + ["}"] + list(extra), workers=2)

    def test_connection_rate_per_ip(self):
        fb, sl = self.start_limits("connection_rate 3/1m")
        for i in range(3):
            c = self.client(sl, source="127.0.0.61")
            c.banner()
            c.quit()
        c = self.client(sl, source="127.0.0.61")
        r = c.banner(expect=421)
        self.assertEqual(r.enhanced, "4.7.0")
        self.assertIn("too many connections from ip 127.0.0.61", r.text)
        self.assert_closed(c)
        other = self.client(sl, source="127.0.0.62")             # another address is not counted with it
        other.banner()
        rec = sl.wait_decision(event="policy.tempfail")
        self.assertEqual((rec["limits"]["exceeded"], rec["limits"]["count"], rec["limits"]["store"]),
                         ("connection_rate/ip", 4, "lmdb"))

    def test_message_rate_per_sender_and_recipient_rate(self):
        fb, sl = self.start_limits("message_rate 2/1h sender", "recipient_rate 3/1h ip")
        c = self.session(sl, source="127.0.0.63")
        for i in range(2):
            c.cmd("MAIL FROM:<bulk@client.test>", expect=250)
            c.cmd("RSET", expect=250)
        r = c.cmd("MAIL FROM:<bulk@client.test>", expect=450)
        self.assertIn("too many messages from sender bulk@client.test", r.text)
        c.cmd("MAIL FROM:<other@client.test>", expect=250)         # per sender
        c.cmd("RCPT TO:<a@example.test>", expect=250)
        c.cmd("RCPT TO:<b@example.test>", expect=250)
        c.cmd("RCPT TO:<c@example.test>", expect=250)
        c.cmd("RCPT TO:<d@example.test>", expect=450)
        c.cmd("MAIL FROM:<>", expect=503)                           # (nested; the null sender is never counted)

    def test_per_user_and_shared_by_processes(self):
        fb, sl = self.start_limits("message_rate 1/1h user", extra=["auth offer always"])
        c = self.session(sl, source="127.0.0.64")
        c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0pw").decode(), expect=235)
        c.cmd("MAIL FROM:<alice@example.test>", expect=250)
        c.cmd("RSET", expect=250)
        c.cmd("MAIL FROM:<alice@example.test>", expect=450)
        anon = self.session(sl, source="127.0.0.64")
        anon.cmd("MAIL FROM:<x@client.test>", expect=250)           # no user: the user limit does not apply
        # a second sluice on the same store sees the same counts (LMDB, one file)
        fb2, sl2 = self.start_limits("message_rate 1/1h user", extra=["auth offer always"])
        c2 = self.session(sl2, source="127.0.0.65")
        c2.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0pw").decode(), expect=235)
        c2.cmd("MAIL FROM:<alice@example.test>", expect=450)
        out = subprocess.run(["mdb_stat", "-e", os.path.join(self.dir, "state")], stdout=subprocess.PIPE, text=True)
        self.assertIn("Entries:", out.stdout)

    def test_facts_only(self):
        fb, sl = self.start_limits("message_rate 1/1h ip", "verdict off",
                                   extra=["rules {", '  mail: if limits.exceeded then reject 550 5.7.1 "{limits.exceeded}: {limits.count}"', "}"])
        c = self.session(sl, source="127.0.0.66")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        c.cmd("RSET", expect=250)
        r = c.cmd("MAIL FROM:<a@client.test>", expect=550)
        self.assertIn("message_rate/ip: 2", r.text)

    def test_config_errors(self):
        base = "listen 127.0.0.1:2525\nbackend 127.0.0.1:10025\n"
        status, out = check_config(base + "limits {\n  store %s\n  message_rate 10 user\n}\n" % self.dir)
        self.assertIn(":5:16: '10' is not a rate like 100/1h", out)
        status, out = check_config(base + "limits {\n  store %s\n  connection_rate 1/1m user\n}\n" % self.dir)
        self.assertIn("a rate is per ip, sender or user (connections: per ip)", out)


if __name__ == "__main__":
    runner.main()
