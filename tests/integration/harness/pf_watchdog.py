"""Watchdog for one PrivatePostfix instance (run as a separate process in its
own session, so that a SIGKILL of the test's process group does not reach it).

    pf_watchdog.py CONFIG_DIR QUEUE_DIR TOP_DIR KEEP

It blocks reading stdin (a pipe from the test process). A byte 'x' means the
instance was stopped normally: exit. EOF means the test process died without
stopping Postfix: abort the instance, kill the processes whose cwd is the
queue dir (only ours), and remove TOP_DIR (unless KEEP is '1').
"""

import os
import shutil
import signal
import subprocess
import sys
import time


def our_pids(qdir):
    pids = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                cwd = os.readlink("/proc/%s/cwd" % e)
            except OSError:
                continue
            if cwd == qdir or cwd.startswith(qdir + "/"):
                pids.append(int(e))
    return pids


def main():
    confdir, qdir, topdir, keep = sys.argv[1:5]
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        data = os.read(0, 1)
    except OSError:
        data = b""
    if data == b"x" or not os.path.isdir(topdir):
        return 0
    qdir = os.path.realpath(qdir)
    try:
        subprocess.run(["/usr/sbin/postfix", "-c", confdir, "abort"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    except Exception:  # noqa: BLE001
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = our_pids(qdir)
        if not pids:
            break
        if time.monotonic() > deadline - 7:
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.2)
    if keep != "1":
        shutil.rmtree(topdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
