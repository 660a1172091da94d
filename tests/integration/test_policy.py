#!/usr/bin/env python3
"""The policy filter against a real postgrey (Debian's, on a loopback port
with its own database): greylisting through the Postfix policy delegation
protocol, a server that is down (on_error), and the actions of access(5)
from a scripted policy server."""

import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
import unittest

from harness import runner
from harness.cases import SluiceCase
from harness.client import make_message
from harness.sluice import free_port
from harness.util import make_tempdir, remove_tree, wait_until


class Postgrey:
    """postgrey in the foreground on 127.0.0.1:PORT, greylisting for `delay` seconds."""

    def __init__(self, delay=2):
        self.port = free_port()
        self.dir = make_tempdir("sluice-postgrey-")
        os.chmod(self.dir, 0o755)
        pw = pwd.getpwnam("postgrey")
        db = os.path.join(self.dir, "db")
        os.mkdir(db)
        os.chown(db, pw.pw_uid, pw.pw_gid)
        for name in ("whitelist_clients", "whitelist_recipients"):
            open(os.path.join(self.dir, name), "w").close()
        self.log = open(os.path.join(self.dir, "postgrey.log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/sbin/postgrey", "--inet=127.0.0.1:%d" % self.port, "--dbdir=%s" % db, "--delay=%d" % delay,
             "--whitelist-clients=%s" % os.path.join(self.dir, "whitelist_clients"),
             "--whitelist-recipients=%s" % os.path.join(self.dir, "whitelist_recipients"),
             "--auto-whitelist-clients=0", "--hostname=postgrey.test", "--lookup-by-host"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.ready, timeout=20, what="postgrey to listen")

    def ready(self):
        if self.proc.poll() is not None:
            with open(os.path.join(self.dir, "postgrey.log")) as f:
                raise RuntimeError("postgrey exited: " + f.read())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        remove_tree(self.dir)


class ScriptedPolicy(threading.Thread):
    """A policy server that answers every request with one action, and keeps the requests."""

    def __init__(self, action):
        super().__init__(daemon=True)
        self.action = action
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            while b"\n\n" in buf:
                req, buf = buf.split(b"\n\n", 1)
                self.requests.append(dict(l.split("=", 1) for l in req.decode().splitlines() if "=" in l))
                conn.sendall(("action=%s\n\n" % self.action).encode())


class PolicyTest(SluiceCase):
    def test_greylisting_with_postgrey(self):
        pg = Postgrey(delay=2)
        self.addCleanup(pg.stop)
        fb, sl = self.start(extra=["policy { server 127.0.0.1:%d }" % pg.port])
        c = self.session(sl, source="127.0.0.31")
        c.cmd("MAIL FROM:<news@sender.example>", expect=250)
        r = c.cmd("RCPT TO:<alice@example.test>", expect=450)
        self.assertIn("Greylisted", r.text)
        self.assertEqual(r.enhanced, "4.7.1")
        rec = sl.wait_decision(event="policy.tempfail")
        self.assertEqual((rec["filter"], rec["stage"]), ("policy", "rcpt"))
        self.assertTrue(rec["policy"]["action"].startswith("DEFER_IF_PERMIT Greylisted"))
        c.quit()
        time.sleep(2.5)                                          # after the greylisting delay ...
        c2 = self.session(sl, source="127.0.0.31")              # ... the retry passes
        c2.send_message("news@sender.example", ["alice@example.test"], make_message()[1])
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)

    def test_access_actions(self):
        for action, code, enh, text in (("REJECT no thanks", 554, "5.7.1", "no thanks"),
                                        ("550 5.7.26 failed SPF", 550, "5.7.26", "failed SPF"),
                                        ("DEFER try later", 450, "4.7.1", "try later"),
                                        ("DUNNO", 250, None, None), ("OK", 250, None, None)):
            with self.subTest(action=action):
                srv = ScriptedPolicy(action)
                self.addCleanup(srv.sock.close)
                fb, sl = self.start(extra=["policy { server 127.0.0.1:%d; stage rcpt }" % srv.port])
                c = self.session(sl, source="127.0.0.32", helo="mta.client.test")
                c.cmd("MAIL FROM:<a@client.test>", expect=250)
                r = c.cmd("RCPT TO:<alice@example.test>", expect=code)
                if enh:
                    self.assertEqual((r.enhanced, r.text.split(" ", 1)[1]), (enh, text))
                req = srv.requests[-1]
                self.assertEqual((req["request"], req["protocol_state"], req["client_address"], req["helo_name"],
                                  req["sender"], req["recipient"]),
                                 ("smtpd_access_policy", "RCPT", "127.0.0.32", "mta.client.test", "a@client.test",
                                  "alice@example.test"))

    def test_prepend_adds_a_header(self):
        srv = ScriptedPolicy("PREPEND X-Policy: seen by the policy server")
        self.addCleanup(srv.sock.close)
        fb, sl = self.start(extra=["policy { server 127.0.0.1:%d }" % srv.port])
        c = self.session(sl, source="127.0.0.33")
        c.send_message("a@client.test", ["alice@example.test"], make_message()[1])
        wait_until(lambda: len(fb.all_messages()) == 1, timeout=5)
        self.assertTrue(fb.all_messages()[0].startswith(b"X-Policy: seen by the policy server\r\n"))

    def test_server_down_follows_on_error(self):
        dead = free_port()
        fb, sl = self.start(extra=["policy on_error tempfail { server 127.0.0.1:%d; timeout 1s }" % dead])
        c = self.session(sl, source="127.0.0.34")
        c.cmd("MAIL FROM:<a@client.test>", expect=250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>").code, 451)
        fb2, sl2 = self.start(extra=["policy { server 127.0.0.1:%d; timeout 1s }" % dead])   # skip
        c2 = self.session(sl2, source="127.0.0.35")
        c2.cmd("MAIL FROM:<a@client.test>", expect=250)
        c2.cmd("RCPT TO:<alice@example.test>", expect=250)
        self.assertEqual(sl2.wait_decision(event="policy.pass")["why"], "filter-error")


if __name__ == "__main__":
    runner.main()
