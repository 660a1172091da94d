"""Small shared helpers: ports, bounded waits, temp dirs, cleanup."""

import atexit
import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time

__all__ = [
    "free_port", "wait_until", "WaitTimeout", "make_tempdir", "remove_tree",
    "register_cleanup", "unregister_cleanup", "keep_tmp", "install_signal_cleanup",
]


class WaitTimeout(AssertionError):
    """A bounded wait ran out of time (an AssertionError so tests FAIL, not ERROR)."""


_port_lock = threading.Lock()
_ports_handed_out = set()


def _port_is_free(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(host="127.0.0.1"):
    """Return a TCP port on `host` that is free right now.

    Ports are drawn at random from 20000-32767, below Linux's ephemeral range
    (32768-60999), so a port we hand out is not grabbed a moment later as the
    source port of some outgoing connection. A port is never handed out twice
    by one process.
    """
    with _port_lock:
        for _ in range(500):
            port = random.randint(20000, 32767)
            if port in _ports_handed_out:
                continue
            if _port_is_free(host, port):
                _ports_handed_out.add(port)
                return port
        # Fall back to the kernel's choice.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        _ports_handed_out.add(port)
        return port


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value; return that value.

    Raises WaitTimeout after `timeout` seconds. Exceptions from the predicate
    propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def keep_tmp():
    """True when SLUICE_TEST_KEEP=1: temp dirs are left behind for debugging."""
    return os.environ.get("SLUICE_TEST_KEEP", "") not in ("", "0", "no")


def make_tempdir(prefix, mode=0o755):
    """Create a temp dir (under $TMPDIR or /tmp) with the given mode."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, mode)
    return d


def remove_tree(path):
    if not path or keep_tmp():
        return
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------
# Cleanup registry: every harness object that owns processes or temp dirs
# registers its cleanup here, so that an exception, sys.exit() or a SIGTERM
# (meson's timeout) still stops Postfix/sluice and removes temp dirs.

_cleanups = {}
_cleanup_lock = threading.RLock()
_cleanup_seq = [0]


def register_cleanup(fn):
    with _cleanup_lock:
        _cleanup_seq[0] += 1
        token = _cleanup_seq[0]
        _cleanups[token] = fn
        return token


def unregister_cleanup(token):
    with _cleanup_lock:
        _cleanups.pop(token, None)


def run_all_cleanups():
    while True:
        with _cleanup_lock:
            if not _cleanups:
                return
            token = max(_cleanups)
            fn = _cleanups.pop(token)
        try:
            fn()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(run_all_cleanups)


_signalled = [False]


def _on_signal(signum, frame):
    # SIGTERM/SIGHUP (meson's timeout sends SIGTERM to the process group and
    # SIGKILL 0.5 s later): stop everything we started right now, then exit.
    # unittest would swallow a SystemExit raised inside a test, so exit hard.
    # PrivatePostfix's watchdog finishes the job if we are killed meanwhile.
    if _signalled[0]:
        os._exit(128 + signum)
    _signalled[0] = True
    try:
        os.write(2, b"\nABORTED: signal %d, cleaning up\n" % signum)
    except OSError:
        pass
    try:
        run_all_cleanups()
    finally:
        os._exit(128 + signum)


def install_signal_cleanup():
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


def vmrss_kb(pid):
    """Resident memory of a process in KiB (/proc/PID/status VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)
