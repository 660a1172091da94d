"""Sluice: write a config file and run the sluice daemon in the foreground.

    with FakeBackend() as fb, Sluice(backend=fb) as sl:
        fb.clear()                      # forget the readiness probe's session
        c = RawClient(sl.port); c.banner(); ...
        sl.wait_event("conn.close")
        sl.decisions()                  # JSON lines of the decision log

The binary is $SLUICE_BIN, default <repo>/build/proxy/sluice.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from .util import (free_port, wait_until, WaitTimeout, make_tempdir, remove_tree,
                   register_cleanup, unregister_cleanup)
from .client import parse_replies
from .fakebackend import FakeBackend

__all__ = ["Sluice", "SluiceError", "default_binary", "parse_kv", "free_port", "check_config"]

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def default_binary():
    return os.environ.get("SLUICE_BIN") or os.path.join(_REPO, "build", "proxy", "sluice")


class SluiceError(RuntimeError):
    pass


_KV = re.compile(r'([A-Za-z_][A-Za-z0-9_.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_kv(line):
    """'sluice[1]: sid=ab ev=conn.close result="x y"' -> {'sid': 'ab', 'ev': ..., 'result': 'x y'}.
    The 'prefix' key holds whatever came before the first key=value."""
    d = {}
    first = None
    for m in _KV.finditer(line):
        if first is None:
            first = m.start()
        v = m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        d[m.group(1)] = v
    d["prefix"] = line[:first].strip() if first is not None else line
    return d


def _pdeathsig():
    """preexec_fn: the daemon gets SIGKILL if the test process dies (so an
    aborted test never leaves a sluice behind)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


def _dur(v):
    return "%ds" % v if isinstance(v, int) else str(v)


def _listening(port, host="127.0.0.1"):
    """True if something is in LISTEN state on host:port (reads /proc/net/tcp;
    no connection is made)."""
    want_port = "%04X" % port
    want_host = "".join("%02X" % int(x) for x in reversed(host.split(".")))
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if len(parts) > 3 and parts[3] == "0A":
                    h, p = parts[1].split(":")
                    if p == want_port and h in (want_host, "00000000"):
                        return True
    except OSError:
        return None
    return False


class Sluice:
    """Runs `sluice -c FILE` in the foreground.

    backend     "127.0.0.1:PORT", "unix:/path", or an object with .address
                (FakeBackend, PrivatePostfix)
    port        listen port on 127.0.0.1 (default free_port())
    binary      path to sluice (default $SLUICE_BIN or build/proxy/sluice)
    xclient     True/False -> 'xclient on/off' (None: line omitted)
    backend_reuse True/False -> 'backend_reuse on/off'. None (default): 'off'
                in front of a FakeBackend, whose tests read what each backend
                connection carried, and omitted (sluice's default: on with
                XCLIENT) in front of anything else, Postfix included. A line
                in extra still wins (it comes later).
    timeouts    {"command": 5, "data": "30s", ...} -> 'timeout command 5s'
    limits      {"recipients": 3, "message_size": "1M"} -> 'limit recipients 3'
    bare_lf     'reject' / 'normalise' (None: omitted)
    workers     int (None: omitted)
    log_level   default 'debug'
    extra       list of extra config lines (appended verbatim)
    config_text the complete config instead of the generated one ('{port}',
                '{backend}', '{decision_log}', '{dir}' are substituted)
    ready       'banner' (default): wait until the port is listening, then
                connect from probe_source, expect 220, QUIT, wait for close;
                'listen': only wait until the port is in LISTEN state (no
                connection is made); 'log:REGEX': wait for a log line;
                None: don't wait
    probe_source source address of the readiness probe (default
                127.0.0.254, so the probe is recognisable in XCLIENT ADDR
                and logs). A FakeBackend records the probe's session: call
                fb.clear() after start().
    wrapper     command prefix, e.g. ['valgrind', '-q'] (or env SLUICE_WRAPPER,
                split on spaces)
    env         extra environment variables for the daemon
    """

    def __init__(self, backend, port=None, binary=None, xclient=True, hostname="mx.sluice.test",
                 timeouts=None, limits=None, bare_lf=None, workers=None, log_level="debug",
                 extra=None, config_text=None, ready="banner", probe_source="127.0.0.254",
                 wrapper=None, env=None, start_timeout=20, backend_reuse=None):
        self.backend = backend
        if backend_reuse is None and isinstance(backend, FakeBackend):
            backend_reuse = False
        self.backend_reuse = backend_reuse
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.binary = binary or default_binary()
        self.xclient = xclient
        self.hostname = hostname
        self.timeouts = dict(timeouts or {})
        # stop() waits 15 s: the drain must end before, or a SIGKILL would skip LeakSanitizer
        self.timeouts.setdefault("shutdown", "5s")
        self.limits = dict(limits or {})
        self.bare_lf = bare_lf
        self.workers = workers
        self.log_level = log_level
        self.extra = list(extra or [])
        self.config_text = config_text
        self.ready = ready
        self.probe_source = probe_source
        if wrapper is None and os.environ.get("SLUICE_WRAPPER"):
            wrapper = os.environ["SLUICE_WRAPPER"].split()
        self.wrapper = list(wrapper or [])
        self.env = dict(env or {})
        self.start_timeout = start_timeout

        self.dir = None
        self.proc = None
        self.returncode = None
        self.log_lines = []              # stderr lines (str), in order
        self.stdout_lines = []
        self._log_cond = threading.Condition()
        self._readers = []
        self._cleanup_token = None
        self.killed = False         # True if stop() had to SIGKILL
        self.terminated = False     # True once stop() sent SIGTERM
        self.ready_mark = 0         # log position once ready (after the probe's session)

    # ----------------------------------------------------------- config
    @property
    def backend_address(self):
        b = self.backend
        return b if isinstance(b, str) else b.address

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def config_path(self):
        return os.path.join(self.dir, "sluice.conf")

    @property
    def decision_log(self):
        return os.path.join(self.dir, "decisions.jsonl")

    def config(self):
        """The config file text."""
        if self.config_text is not None:
            return self.config_text.format(port=self.port, backend=self.backend_address,
                                           decision_log=self.decision_log, dir=self.dir)
        lines = [
            "# generated by tests/integration/harness/sluice.py",
            "hostname %s" % self.hostname,
            "listen %s:%d" % (self.host, self.port),
            "backend %s" % self.backend_address,
        ]
        if self.xclient is not None:
            lines.append("xclient %s" % ("on" if self.xclient else "off"))
        if self.backend_reuse is not None:
            lines.append("backend_reuse %s" % ("on" if self.backend_reuse else "off"))
        lines += ["decision_log %s" % self.decision_log, "log stderr",
                  "log_level %s" % self.log_level]
        for k, v in self.timeouts.items():
            lines.append("timeout %s %s" % (k, _dur(v)))
        for k, v in self.limits.items():
            lines.append("limit %s %s" % (k, v))
        if self.bare_lf is not None:
            lines.append("bare_lf %s" % self.bare_lf)
        if self.workers is not None:
            lines.append("workers %d" % self.workers)
        lines += self.extra
        return "\n".join(lines) + "\n"

    def write_config(self):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.config())
        os.rename(tmp, self.config_path)

    # -------------------------------------------------------- lifecycle
    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise SluiceError("sluice binary not found or not executable: %s (set SLUICE_BIN)"
                              % self.binary)
        self.dir = make_tempdir("sluice-run-")
        self._cleanup_token = register_cleanup(self._cleanup)
        try:
            self.write_config()
            env = dict(os.environ)
            env.update(self.env)
            self.proc = subprocess.Popen(self.wrapper + [self.binary, "-c", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=self.dir, env=env,
                                         preexec_fn=_pdeathsig)
            for stream, sink in ((self.proc.stderr, self.log_lines),
                                 (self.proc.stdout, self.stdout_lines)):
                t = threading.Thread(target=self._reader, args=(stream, sink), daemon=True)
                t.start()
                self._readers.append(t)
            self.wait_ready(self.start_timeout)
        except BaseException:
            self._cleanup()
            raise
        return self

    def _reader(self, stream, sink):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._log_cond:
                sink.append(line)
                self._log_cond.notify_all()
        stream.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            time.sleep(0.1)  # let the readers catch the last lines
            raise SluiceError("sluice exited with status %s\n--- log ---\n%s"
                              % (self.proc.returncode, "\n".join(self.log_lines[-50:])))

    def wait_ready(self, timeout=20):
        mode = self.ready
        if mode is None:
            return
        deadline = time.monotonic() + timeout

        def left():
            return max(0.05, deadline - time.monotonic())

        if mode.startswith("log:"):
            self.wait_log(mode[4:], timeout=left(), start=0)
            self.ready_mark = len(self.log_lines)
            return

        def listening():
            self._check_alive()
            st = _listening(self.port, self.host)
            if st is None:  # no /proc/net/tcp: fall back to connect()
                try:
                    socket.create_connection((self.host, self.port), timeout=1).close()
                    return True
                except OSError:
                    return False
            return st
        try:
            wait_until(listening, timeout=left(), interval=0.05,
                       what="sluice to listen on %s" % self.address)
        except WaitTimeout as e:
            raise WaitTimeout("%s\n--- log ---\n%s" % (e, "\n".join(self.log_lines[-30:]))) from None
        if mode == "listen":
            self.ready_mark = len(self.log_lines)
            return
        if mode != "banner":
            raise ValueError("unknown ready mode %r" % mode)
        self._probe(left())
        # Let the probe's session summary reach the log, so that events after
        # ready_mark belong to the test (best effort, bounded).
        try:
            self.wait_log(r"ev=conn\.close\b.*client=\[?%s\b" % re.escape(self.probe_source or "127.0.0.1"),
                          timeout=min(2.0, left()), start=0)
        except WaitTimeout:
            pass
        self.ready_mark = len(self.log_lines)

    def _probe(self, timeout):
        """Connect, expect 220, QUIT, wait for the close."""
        deadline = time.monotonic() + timeout
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self.probe_source:
                try:
                    s.bind((self.probe_source, 0))
                except OSError:
                    pass
            s.settimeout(max(0.1, deadline - time.monotonic()))
            s.connect((self.host, self.port))
            buf = b""
            replies = []
            while not replies:
                self._check_alive()
                s.settimeout(max(0.1, deadline - time.monotonic()))
                chunk = s.recv(4096)
                if not chunk:
                    raise SluiceError("sluice closed the probe connection (got %r)\n--- log ---\n%s"
                                      % (buf, "\n".join(self.log_lines[-30:])))
                buf += chunk
                replies, _ = parse_replies(buf)
            if replies[0].code != 220:
                raise SluiceError("sluice answered the probe with %r" % replies[0].raw)
            s.sendall(b"QUIT\r\n")
            while True:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                if not s.recv(4096):
                    break
        except (socket.timeout, TimeoutError):
            raise WaitTimeout("sluice readiness probe timed out\n--- log ---\n%s"
                              % "\n".join(self.log_lines[-30:])) from None
        finally:
            s.close()

    def reload(self, wait=True, timeout=10, **changes):
        """Optionally change settings (same names as the constructor), rewrite
        the config and send SIGHUP. With wait=True, wait for a
        daemon.reload / daemon.reload_failed log line; returns its fields."""
        for k, v in changes.items():
            if not hasattr(self, k):
                raise AttributeError(k)
            setattr(self, k, v)
        self.write_config()
        n = len(self.log_lines)
        self.proc.send_signal(signal.SIGHUP)
        if wait:
            return self.wait_event(lambda e: e.get("ev") in ("daemon.reload", "daemon.reload_failed"),
                                   timeout=timeout, start=n)
        return None

    def stop(self, timeout=15):
        """SIGTERM, wait (bounded), SIGKILL on timeout. Returns the exit status
        (negative = killed by that signal)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.terminated = True
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.killed = True
        self.returncode = self.proc.returncode
        for t in self._readers:
            t.join(5)
        return self.returncode

    def kill(self, sig=signal.SIGKILL):
        if self.running():
            self.proc.send_signal(sig)

    def exit_problems(self):
        """After stop(): what a clean shutdown must not show. Sanitizer output
        (LeakSanitizer reports only at exit), or a status other than 0 after
        our SIGTERM (LSan exits 23, an abort is -6)."""
        problems = self.sanitizer_report()
        if self.killed:
            problems.append("sluice did not stop within 15 s of SIGTERM (SIGKILL)")
        elif self.terminated and self.returncode not in (0, None):
            problems.append("sluice exited with status %s after SIGTERM" % self.returncode)
        return problems

    def _cleanup(self, check=False):
        try:
            self.stop()
            problems = self.exit_problems() if check else []
            if problems:
                raise AssertionError("sluice did not stop cleanly:\n" + "\n".join(
                    problems + ["--- log ---"] + self.log_lines[-40:]))
        finally:
            if self._cleanup_token is not None:
                unregister_cleanup(self._cleanup_token)
                self._cleanup_token = None
            d, self.dir = self.dir, None
            remove_tree(d)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self._cleanup(check=exc[0] is None) # a failure already in flight is the one to report
        return False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # ------------------------------------------------------------- log
    def log_text(self):
        return "\n".join(self.log_lines)

    def events(self, ev=None, start=0):
        """Log lines parsed into dicts (parse_kv); only those with ev= set,
        optionally only one event name. start=sl.ready_mark skips the
        daemon start and the readiness probe."""
        out = []
        for line in list(self.log_lines[start:]):
            d = parse_kv(line)
            if "ev" in d and (ev is None or d["ev"] == ev):
                d["line"] = line
                out.append(d)
        return out

    def mark(self):
        """Current log position; pass as start= to only see later lines."""
        return len(self.log_lines)

    def wait_log(self, pattern, timeout=10, start=None):
        """Wait (bounded) for a log line matching regex; return the match.
        start=None searches from ready_mark (after the readiness probe);
        start=0 from the first line."""
        if start is None:
            start = self.ready_mark
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._log_cond:
            while True:
                for line in self.log_lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                start = max(start, len(self.log_lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout("no sluice log line /%s/ within %.1fs\n--- log tail ---\n%s"
                                      % (pattern, timeout, "\n".join(self.log_lines[-30:])))
                self._log_cond.wait(min(left, 0.2))

    def wait_event(self, ev, timeout=10, start=None, **fields):
        """Wait for a log event. `ev` is a name ('conn.close') or a predicate
        on the parsed dict; fields must match exactly (str compare).
        start=None searches from ready_mark; start=0 from the first line."""
        if start is None:
            start = self.ready_mark
        def match(d):
            if callable(ev):
                if not ev(d):
                    return False
            elif d.get("ev") != ev:
                return False
            return all(str(d.get(k)) == str(v) for k, v in fields.items())

        deadline = time.monotonic() + timeout
        with self._log_cond:
            pos = start
            while True:
                for line in self.log_lines[pos:]:
                    d = parse_kv(line)
                    if "ev" in d and match(d):
                        d["line"] = line
                        return d
                pos = max(pos, len(self.log_lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout("no sluice event %s %s within %.1fs\n--- log tail ---\n%s"
                                      % (ev if not callable(ev) else "<predicate>", fields, timeout,
                                         "\n".join(self.log_lines[-30:])))
                self._log_cond.wait(min(left, 0.2))

    def sanitizer_report(self):
        """Lines that look like ASan/UBSan/LSan output (empty if none)."""
        rx = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer")
        return [ln for ln in self.log_lines if rx.search(ln)]

    # ------------------------------------------------------ decision log
    def decisions(self):
        """Decision records (dicts) written so far; a partial last line is skipped."""
        if not self.dir:
            return []
        try:
            with open(self.decision_log, "rb") as f:
                data = f.read()
        except OSError:
            return []
        lines = data.split(b"\n")
        if not data.endswith(b"\n"):
            lines = lines[:-1]      # a record still being written
        out = []
        for raw in lines:
            if raw.strip():
                out.append(json.loads(raw.decode("utf-8")))
        return out

    def wait_decision(self, pred=None, timeout=10, **fields):
        """Wait for a decision record. pred(record) -> bool and/or field=value
        equality (e.g. event='msg.accept'). Returns the record."""
        def find():
            for r in self.decisions():
                if pred is not None and not pred(r):
                    continue
                if all(r.get(k) == v for k, v in fields.items()):
                    return r
            return None
        try:
            return wait_until(find, timeout=timeout, what="decision record %s" % (fields or "(predicate)"))
        except WaitTimeout as e:
            raise WaitTimeout("%s\n--- decisions ---\n%s" % (e, "\n".join(map(json.dumps, self.decisions()[-10:])))) from None


def check_config(text, binary=None, timeout=30):
    """Run `sluice -t -c FILE` on config text. Returns (exit status, output)."""
    binary = binary or default_binary()
    d = make_tempdir("sluice-check-")
    try:
        path = os.path.join(d, "sluice.conf")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([binary, "-t", "-c", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, cwd=d)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    finally:
        remove_tree(d)
