#!/usr/bin/env python3
"""Discover and run the integration tests (tests/integration/test_*.py).

    run.py --list           one line per test file: '<name> <kind>', where
                            name is the file name without 'test_' and '.py'
                            and kind is 'postfix' if the file contains the
                            line 'NEEDS_POSTFIX = True', else 'plain'
                            (meson.build reads this at configure time)
    run.py [NAME ...]       run the named test files (default: all), each as
                            its own process with a 300 s limit, and print
                            'N passed, N failed, N skipped' (files, not cases)

Environment: SLUICE_BIN (default build/proxy/sluice), SLUICE_TEST_KEEP=1
keeps temp dirs for debugging.
"""

import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 300


def discover():
    out = []
    for fn in sorted(os.listdir(HERE)):
        m = re.match(r"^test_([A-Za-z0-9_]+)\.py$", fn)
        if not m:
            continue
        with open(os.path.join(HERE, fn), encoding="utf-8") as f:
            text = f.read()
        kind = "postfix" if re.search(r"^NEEDS_POSTFIX\s*=\s*True\b", text, re.M) else "plain"
        out.append((m.group(1), kind, os.path.join(HERE, fn)))
    return out


def main(argv):
    tests = discover()
    if "--list" in argv:
        for name, kind, _path in tests:
            print("%s %s" % (name, kind))
        return 0
    wanted = [a for a in argv if not a.startswith("-")]
    if wanted:
        known = {t[0] for t in tests}
        for w in wanted:
            if w not in known:
                print("unknown test %r (known: %s)" % (w, ", ".join(sorted(known))))
                return 2
        tests = [t for t in tests if t[0] in wanted]
    passed = failed = skipped = 0
    env = dict(os.environ)
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    for name, _kind, path in tests:
        t0 = time.monotonic()
        # Own session, like meson: on timeout the whole group gets SIGTERM,
        # then SIGKILL.
        p = subprocess.Popen([sys.executable, path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env, cwd=HERE, start_new_session=True)
        try:
            outb, _ = p.communicate(timeout=TIMEOUT)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(p.pid, sig)
                except OSError:
                    pass
                try:
                    p.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    pass
            outb, _ = p.communicate()
            rc = -1
            outb += b"\nTIMEOUT after %ds" % TIMEOUT
        out = outb.decode("utf-8", "replace")
        dt = time.monotonic() - t0
        if rc == 0:
            passed += 1
            status = "ok"
        elif rc == 77:
            skipped += 1
            status = "skipped"
        else:
            failed += 1
            status = "FAILED (exit %d)" % rc
            sys.stdout.write(out)
        reasons = [ln for ln in out.splitlines() if ln.startswith(("FAIL:", "SKIP:"))]
        print("integration.%s: %s in %.1fs%s" % (name, status, dt,
                                                ("  " + " | ".join(reasons)[:500]) if reasons else ""))
        sys.stdout.flush()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
