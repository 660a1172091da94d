"""main() for tests/integration/test_*.py files.

Each test file ends with

    if __name__ == "__main__":
        runner.main()

and is run as `python3 test_x.py [unittest args]`. Exit status: 0 all passed,
1 a test failed or errored (each failure is printed as one line starting
with 'FAIL:' before the summary), 77 everything was skipped (meson's "skip").
The last line is 'N passed, N failed, N skipped'. With SLUICE_TESTS_STRICT=1
(scripts/test.sh, so CI) a skipped case counts as failed.

Helpers for test files:
    require_root(), require_postfix(), require_sluice(), require_swaks()
        raise unittest.SkipTest with the reason (use in setUpModule/setUpClass)
"""

import os
import re
import shutil
import sys
import time
import unittest

from .util import install_signal_cleanup, run_all_cleanups

__all__ = ["main", "require_root", "require_postfix", "require_sluice", "require_swaks"]


def require_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root")


def require_postfix():
    from .postfix import postfix_available
    ok, why = postfix_available()
    if not ok:
        raise unittest.SkipTest(why)


def require_sluice():
    from .sluice import default_binary
    b = default_binary()
    if not os.access(b, os.X_OK):
        raise unittest.SkipTest("sluice binary %s not built (set SLUICE_BIN)" % b)


def require_swaks():
    if not shutil.which("swaks") and not os.access("/usr/bin/swaks", os.X_OK):
        raise unittest.SkipTest("swaks not installed")


def _one_line(err_text):
    """The most useful single line of a formatted traceback: the final
    'SomeError: message' line (first line of its message)."""
    lines = [ln for ln in err_text.strip().splitlines() if ln.strip()]
    rx = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout|Closed|Exit|Failure|Interrupt)\b")
    for i in range(len(lines) - 1, -1, -1):
        if rx.match(lines[i]):
            return lines[i].strip()[:400]
    return (lines[-1] if lines else "unknown error").strip()[:400]


class _Result(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.flush()


def main(argv=None):
    install_signal_cleanup()
    module = sys.modules["__main__"]
    name = os.path.splitext(os.path.basename(getattr(module, "__file__", "test")))[0]
    argv = list(sys.argv if argv is None else argv)
    loader = unittest.TestLoader()
    names = [a for a in argv[1:] if not a.startswith("-")]
    if names:
        suite = loader.loadTestsFromNames(names, module)
    else:
        suite = loader.loadTestsFromModule(module)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=_Result)
    try:
        result = runner.run(suite)
    finally:
        run_all_cleanups()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.passed
    for test, err in result.failures + result.errors:
        print("FAIL: %s.%s: %s" % (name, test.id().split(".", 1)[-1], _one_line(err)))
    for test in result.unexpectedSuccesses:
        print("FAIL: %s.%s: unexpected success" % (name, test.id().split(".", 1)[-1]))
    if os.environ.get("SLUICE_TESTS_STRICT") == "1":
        # CI: every case must run; a missing Postfix or swaks is a failure, not a skip
        for test, reason in result.skipped:
            print("FAIL: %s.%s: skipped under SLUICE_TESTS_STRICT=1: %s" % (name, test.id().split(".", 1)[-1], reason))
        failed += skipped
        skipped = 0
    if failed == 0 and passed == 0 and skipped:
        reasons = sorted(set(r for _t, r in result.skipped))
        print("SKIP: %s: %s" % (name, "; ".join(reasons)[:300]))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.stdout.flush()
    if failed:
        sys.exit(1)
    if passed == 0:
        sys.exit(77 if skipped else 1)
    sys.exit(0)
