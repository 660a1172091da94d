#!/usr/bin/env python3
"""Run sluice on its example configuration in front of a real Postfix.

Starts a private Postfix instance (its own config and queue under a temp dir,
smtpd on 127.0.0.1:10025, XCLIENT authorised for 127.0.0.0/8, mail for
alice@, bob@ and postmaster@example.test delivered into maildirs), then runs
`sluice -c etc/sluice.conf` in the foreground on 127.0.0.1:2525 until
Ctrl-C. The system's own Postfix is not touched.
"""

import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness.postfix import PrivatePostfix  # noqa: E402


def main():
    binary = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "build", "proxy", "sluice"))
    conf = os.path.join(ROOT, "etc", "sluice.conf")
    pf = PrivatePostfix(port=10025, name="sluice-demo", users=["alice", "bob", "postmaster"])
    pf.start()
    proc = None
    try:
        print("""
  Postfix (private instance) is listening on 127.0.0.1:10025
  sluice is starting on 127.0.0.1:2525 with %s

  Send a first mail through sluice, from another terminal:

      swaks --server 127.0.0.1:2525 --to alice@example.test --from you@example.net

  Then look at:
      the decision log           /tmp/sluice-decisions.jsonl
      Postfix's log              %s
      the delivered mail         %s/

  Ctrl-C stops sluice and the private Postfix.
""" % (conf, pf.maillog_path, os.path.join(pf.mail_dir, pf.domain, "alice", "new")), flush=True)
        proc = subprocess.Popen([binary, "-c", conf])
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(35)
            except subprocess.TimeoutExpired:
                proc.kill()
        pf.stop()


if __name__ == "__main__":
    main()
