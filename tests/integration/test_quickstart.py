#!/usr/bin/env python3
"""The README's Quick start, as a user follows it: scripts/quickstart.sh
ends in contrib/demo/run-demo.py, which runs sluice on the shipped
etc/sluice.conf (127.0.0.1:2525) in front of a private Postfix on
127.0.0.1:10025. The swaks command it prints delivers a mail into the
maildir it names, the decision log it names records the message with
Postfix's queue id, and Ctrl-C stops sluice and Postfix cleanly.
(The script's other steps, apt and meson, are what this suite already ran.)"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import unittest

from harness import runner
from harness.client import new_message_id, run_swaks
from harness.util import wait_until

NEEDS_POSTFIX = True
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "contrib", "demo", "run-demo.py")


def port_free(port):
    """Nothing listens on 127.0.0.1:port (whatever it would say)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def port_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(2)
            return s.recv(64).startswith(b"220 ")
    except OSError:
        return False


class QuickstartTest(unittest.TestCase):
    def test_demo_delivers_the_printed_swaks_mail_and_stops_on_ctrl_c(self):
        runner.require_postfix()
        runner.require_sluice()
        runner.require_swaks()
        for port in (2525, 10025):
            self.assertTrue(port_free(port), "port %d is taken: the demo needs it" % port)
        out_path = os.path.join("/tmp", "sluice-quickstart-test-%d.out" % os.getpid())
        out = open(out_path, "w+")
        self.addCleanup(os.unlink, out_path)
        self.addCleanup(out.close)
        demo = subprocess.Popen([os.environ.get("PYTHON", "python3"), DEMO], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)   # its own group, like a terminal

        def stop(sig):
            if demo.poll() is None:
                os.killpg(demo.pid, sig)
        self.addCleanup(lambda: (stop(signal.SIGKILL), demo.wait(10)))

        def printed():
            out.seek(0)
            return out.read()
        wait_until(lambda: port_answers(2525) or demo.poll() is not None, timeout=60,
                   what="the demo's sluice on 127.0.0.1:2525")
        self.assertIsNone(demo.poll(), "the demo exited:\n" + printed()[-3000:])
        text = printed()
        swaks = re.search(r"^\s*(swaks --server 127\.0\.0\.1:2525 .*)$", text, re.M)
        maildir = re.search(r"the delivered mail\s+(\S+)", text)
        dlog = re.search(r"the decision log\s+(\S+)", text)
        self.assertTrue(swaks and maildir and dlog, text)
        # the printed command, plus a Message-Id to find this very mail
        mid = new_message_id()
        p = run_swaks(shlex.split(swaks.group(1))[1:] + ["--header", "Message-Id: %s" % mid])
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr)
        qid = re.search(r"queued as (\w+)", p.stdout)
        self.assertIsNotNone(qid, p.stdout[-2000:])

        def delivered():
            d = maildir.group(1)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), "rb") as f:
                    if mid.encode() in f.read():
                        return name
            return None
        wait_until(delivered, timeout=20, what="the mail in %s" % maildir.group(1))

        def recorded():
            try:
                with open(dlog.group(1)) as f:
                    for line in f:
                        r = json.loads(line)
                        if r.get("msgid") == mid and r.get("event") == "msg.accept":
                            return r
            except (OSError, ValueError):
                return None
            return None
        rec = wait_until(recorded, timeout=10, what="a msg.accept record for %s" % mid)
        self.assertEqual(rec["queue_id"], qid.group(1))
        # Ctrl-C: the terminal signals the whole foreground group
        t0 = time.monotonic()
        stop(signal.SIGINT)
        self.assertEqual(demo.wait(45), 0, printed()[-3000:])
        self.assertLess(time.monotonic() - t0, 40)
        self.assertTrue(port_free(2525))
        self.assertTrue(port_free(10025))
        self.assertIn("ev=daemon.stop", printed())


if __name__ == "__main__":
    runner.main()
