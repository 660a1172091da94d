"""PrivateDovecot: a throwaway, auth-only Dovecot instance for SMTP AUTH tests.

It answers Dovecot SASL requests (the protocol Postfix's smtpd_sasl_type =
dovecot speaks) on one UNIX socket and does nothing else: no IMAP, POP3,
LMTP or submission listener, no TCP socket at all, no SSL. Credentials come
from a passwd-file the test provides ({PLAIN} scheme), users have a static
userdb (uid/gid of `nobody`).

Everything lives under one temp dir:

    <tmp>/dovecot.conf   the only config file read (dovecot -c FILE)
    <tmp>/passwd         passwd-file: user:{PLAIN}password (root:dovecot 0640)
    <tmp>/run/           base_dir: master.pid, internal sockets
    <tmp>/state/         state_dir (instead of /var/lib/dovecot)
    <tmp>/dovecot.log    log_path (auth successes/failures: auth_verbose)
    <tmp>/stderr.log     the foreground master's stdout/stderr
    <tmp>/auth-client    the auth socket, unless start(socket_path=...) puts
                         it elsewhere (PrivatePostfix puts it at
                         <queue_directory>/private/auth)

The master runs in the foreground (`dovecot -F -c FILE`) as a child of the
test process. It never reads /etc/dovecot, never uses /run/dovecot or
/var/lib/dovecot, and works whether the system's dovecot runs or not.
It must be run as root (the master drops privileges: auth runs as dovecot).

Quirks worth knowing:
  - Dovecot's per-IP "auth penalty" (up to 15 s delay after failures, kept
    by anvil) is disabled by default (auth_penalty=False): its anvil socket
    is not created, and the auth process silently skips the penalty.
  - A failed authentication still takes ~0.5 s even with auth_failure_delay
    = 0 (Dovecot flushes failures on a timer).
  - auth_username_format is Dovecot's default %Lu: logins are lowercased
    before the passwd-file lookup, so keep user names lowercase.
"""

import base64
import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from .util import (wait_until, WaitTimeout, make_tempdir, remove_tree,
                   register_cleanup, unregister_cleanup, keep_tmp)

__all__ = ["PrivateDovecot", "DovecotError", "dovecot_available", "DEFAULT_USERS"]

DOVECOT = "/usr/sbin/dovecot"

DEFAULT_USERS = {"alice@example.test": "s3cret"}

_UNIX_PATH_MAX = 107

_instance_counter = [0]
_counter_lock = threading.Lock()


class DovecotError(RuntimeError):
    pass


def dovecot_available():
    """(ok, reason): can a PrivateDovecot run here?"""
    if os.geteuid() != 0:
        return False, "PrivateDovecot needs root"
    if not os.access(DOVECOT, os.X_OK):
        return False, ("dovecot is not installed (%s missing; apt-get install dovecot-core, "
                       "see scripts/deps.sh)" % DOVECOT)
    try:
        pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
        grp.getgrnam("dovecot")
    except KeyError:
        return False, "dovecot or dovenull user, or dovecot group, missing"
    return True, ""


# A watchdog in its own session: if the test process dies without stop()
# (e.g. SIGKILL after a meson timeout), kill this instance's processes (found
# by their cwd, which Dovecot sets to base_dir) and remove the temp dir.
# argv: BASE_DIR TOP_DIR KEEP. A byte 'x' on stdin means: stopped normally.
_WATCHDOG = r"""
import os, shutil, signal, sys, time
base, top, keep = sys.argv[1:4]
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
try:
    data = os.read(0, 1)
except OSError:
    data = b""
if data == b"x" or not os.path.isdir(top):
    sys.exit(0)
base = os.path.realpath(base)
def pids():
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                cwd = os.readlink("/proc/%s/cwd" % e)
            except OSError:
                continue
            if cwd == base or cwd.startswith(base + "/"):
                out.append(int(e))
    return out
deadline = time.monotonic() + 10
sig = signal.SIGTERM
while time.monotonic() < deadline:
    ps = pids()
    if not ps:
        break
    for p in ps:
        try:
            os.kill(p, sig)
        except OSError:
            pass
    if time.monotonic() > deadline - 7:
        sig = signal.SIGKILL
    time.sleep(0.2)
if keep != "1":
    shutil.rmtree(top, ignore_errors=True)
"""


class PrivateDovecot:
    """A private auth-only Dovecot. Use as a context manager or start()/stop(),
    or hand it (unstarted) to PrivatePostfix(sasl=...), which starts it with
    the socket at <queue_directory>/private/auth and stops it again.

    Parameters:
      users           {"user@domain": "password"} (default DEFAULT_USERS);
                      no ':' or line breaks in either
      name            instance tag (instance_name sluice-<name>, process
                      titles dovecot-sluice-<name>/auth)
      socket_path     absolute path of the auth socket (default
                      <dir>/auth-client); start(socket_path=...) overrides
      mechanisms      auth_mechanisms (default ("plain", "login"))
      socket_user, socket_group, socket_mode
                      owner and mode of the auth socket (default
                      postfix:postfix 0660: Postfix's smtpd runs as postfix)
      failure_delay   auth_failure_delay in seconds (default 0)
      auth_penalty    keep Dovecot's per-IP failure penalty (default False)
      debug           auth_debug = yes (never logs passwords)
      extra_conf      extra dovecot.conf text appended at the end
    """

    def __init__(self, users=None, name=None, socket_path=None,
                 mechanisms=("plain", "login"), socket_user="postfix",
                 socket_group="postfix", socket_mode=0o660, failure_delay=0,
                 auth_penalty=False, debug=False, extra_conf=""):
        ok, why = dovecot_available()
        if not ok:
            raise DovecotError(why)
        with _counter_lock:
            _instance_counter[0] += 1
            n = _instance_counter[0]
        self.name = name or "t%d-%d" % (os.getpid(), n)
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.name):
            raise ValueError("bad instance name %r" % self.name)
        self.users = dict(DEFAULT_USERS if users is None else users)
        for u, p in self.users.items():
            if not u or re.search(r"[:\s]", u) or re.search(r"[:\r\n]", p):
                raise ValueError("user %r / its password can't go in a passwd-file" % u)
        self.mechanisms = [m.lower() for m in mechanisms]
        if socket_path is not None and not os.path.isabs(socket_path):
            raise ValueError("socket_path must be absolute: %r" % socket_path)
        self._socket_path = socket_path
        self.socket_user = socket_user
        self.socket_group = socket_group
        self.socket_mode = socket_mode
        self.failure_delay = failure_delay
        self.auth_penalty = auth_penalty
        self.debug = debug
        self.extra_conf = extra_conf
        self.instance_name = "sluice-" + self.name

        self.dir = None
        self.started = False
        self.proc = None
        self._stderr = None
        self._cleanup_token = None
        self._watchdog = None
        self._active_socket = None

    # ------------------------------------------------------------------ paths
    @property
    def config_path(self):
        return os.path.join(self.dir, "dovecot.conf")

    @property
    def passwd_path(self):
        return os.path.join(self.dir, "passwd")

    @property
    def base_dir(self):
        return os.path.join(self.dir, "run")

    @property
    def state_dir(self):
        return os.path.join(self.dir, "state")

    @property
    def log_path(self):
        return os.path.join(self.dir, "dovecot.log")

    @property
    def stderr_path(self):
        return os.path.join(self.dir, "stderr.log")

    @property
    def socket_path(self):
        """The auth socket (absolute path) while started, or the one that
        start() will use."""
        if self._active_socket:
            return self._active_socket
        if self._socket_path:
            return self._socket_path
        return os.path.join(self.dir, "auth-client") if self.dir else None

    @property
    def pid(self):
        """PID of the running master, or None."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        return self.proc.pid

    # --------------------------------------------------------------- config
    def _userdb_ids(self):
        try:
            pw = pwd.getpwnam("nobody")
        except KeyError:
            pw = pwd.getpwnam("dovecot")
        return pw.pw_uid, pw.pw_gid

    def config_text(self):
        uid, gid = self._userdb_ids()
        lines = [
            "# generated by tests/integration/harness/dovecot.py: auth-only instance",
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % self.state_dir,
            "instance_name = %s" % self.instance_name,
            # no imap/pop3/lmtp/submission: only the auth service listens
            "protocols =",
            "listen = 127.0.0.1",
            "ssl = no",
            "import_environment = TZ",
            "shutdown_clients = yes",
            "log_path = %s" % self.log_path,
            "info_log_path =",
            "debug_log_path =",
            'log_timestamp = "%Y-%m-%d %H:%M:%S "',
            "auth_mechanisms = %s" % " ".join(self.mechanisms),
            # sluice terminates TLS; Dovecot sees the plaintext exchange
            # relayed by Postfix over a local socket.
            "disable_plaintext_auth = no",
            "auth_verbose = yes",
            "auth_verbose_passwords = no",
            "auth_debug = %s" % ("yes" if self.debug else "no"),
            "auth_debug_passwords = no",
            "auth_failure_delay = %d secs" % int(self.failure_delay),
            "auth_cache_size = 0",
            "passdb {",
            "  driver = passwd-file",
            "  args = scheme=PLAIN username_format=%%u %s" % self.passwd_path,
            "}",
            "userdb {",
            "  driver = static",
            "  args = uid=%d gid=%d home=/nonexistent" % (uid, gid),
            "}",
            "service auth {",
            "  unix_listener %s {" % self.socket_path,
            "    mode = 0%o" % self.socket_mode,
            "    user = %s" % self.socket_user,
            "    group = %s" % self.socket_group,
            "  }",
            "}",
        ]
        if not self.auth_penalty:
            # mode 0: the listener is not created, so auth's anvil client gets
            # ENOENT and silently disables the penalty.
            lines += [
                "service anvil {",
                "  unix_listener anvil-auth-penalty {",
                "    mode = 0",
                "  }",
                "}",
            ]
        text = "\n".join(lines) + "\n"
        if self.extra_conf:
            text += self.extra_conf.rstrip("\n") + "\n"
        return text

    def _write_files(self):
        os.makedirs(self.state_dir, mode=0o755)
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        # read by the auth process, which runs as dovecot
        fd = os.open(self.passwd_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w") as f:
            for u, p in self.users.items():
                f.write("%s:{PLAIN}%s::::::\n" % (u, p))
        os.chown(self.passwd_path, 0, grp.getgrnam("dovecot").gr_gid)

    # ------------------------------------------------------------ lifecycle
    def start(self, socket_path=None, timeout=30):
        """Start the instance; socket_path (absolute) overrides the one given
        to the constructor. Returns self once the socket answers."""
        if self.started:
            return self
        if socket_path is not None:
            if not os.path.isabs(socket_path):
                raise ValueError("socket_path must be absolute: %r" % socket_path)
            self._socket_path = socket_path
        self.dir = make_tempdir("sluice-dc-%s-" % self.name)
        self._cleanup_token = register_cleanup(self.stop)
        try:
            self._active_socket = self.socket_path
            if len(self._active_socket.encode()) > _UNIX_PATH_MAX:
                raise DovecotError("auth socket path too long for AF_UNIX: %s" % self._active_socket)
            if not os.path.isdir(os.path.dirname(self._active_socket)):
                raise DovecotError("directory of the auth socket does not exist: %s"
                                   % self._active_socket)
            self._write_files()
            self._start_watchdog()
            env = {k: v for k, v in os.environ.items()
                   if k not in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET")}
            self._stderr = open(self.stderr_path, "wb")
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=self._stderr,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.dir)
            self.started = True
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_watchdog(self):
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, self.base_dir, self.dir,
             "1" if keep_tmp() else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def _stop_watchdog(self):
        w, self._watchdog = self._watchdog, None
        if w is None:
            return
        try:
            w.stdin.write(b"x")
            w.stdin.close()
        except OSError:
            pass
        try:
            w.wait(10)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait(5)

    def _diag(self):
        return "--- stderr ---\n%s\n--- dovecot.log ---\n%s" % (
            _read(self.stderr_path)[-3000:] if self.dir else "",
            self.log()[-3000:])

    def wait_ready(self, timeout=30):
        """Wait (bounded) until the auth socket exists and completes the
        Dovecot auth handshake offering the configured mechanisms."""
        last = ["no attempt"]
        want = set(m.upper() for m in self.mechanisms)

        def probe():
            if self.proc is None or self.proc.poll() is not None:
                raise DovecotError("dovecot exited (rc=%s) before it was ready\n%s"
                                   % (None if self.proc is None else self.proc.returncode,
                                      self._diag()))
            if not os.path.exists(self.socket_path):
                last[0] = "no socket %s" % self.socket_path
                return False
            try:
                mechs = self.mechanisms_offered(timeout=2)
            except (OSError, DovecotError) as e:
                last[0] = str(e)
                return False
            if not want <= set(mechs):
                last[0] = "mechanisms %r" % mechs
                return False
            return True
        try:
            wait_until(probe, timeout=timeout, interval=0.05,
                       what="dovecot %s auth socket %s" % (self.name, self.socket_path))
        except WaitTimeout as e:
            raise WaitTimeout("%s (last: %s)\n%s" % (e, last[0], self._diag())) from None
        return True

    def _our_pids(self):
        """PIDs of this instance's processes: the master and all its children
        chdir to base_dir (or below it, e.g. run/empty for chrooted ones)."""
        if not self.dir:
            return []
        base = os.path.realpath(self.base_dir)
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cwd = os.readlink("/proc/%s/cwd" % entry)
            except OSError:
                continue
            if cwd == base or cwd.startswith(base + "/"):
                pids.append(int(entry))
        if self.pid is not None and self.pid not in pids:
            pids.append(self.pid)
        return pids

    def stop(self, timeout=15):
        """SIGTERM the master, wait for all our processes to go (SIGKILL
        after half the timeout), remove the temp dir."""
        if self.dir is None:
            return
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except OSError:
                    pass
            # The master stops its idle children, but a child serving a
            # client (auth, while a Postfix smtpd holds a connection) outlives
            # it, and log/stats stay for as long as auth does: once the master
            # is gone, SIGTERM the rest; SIGKILL from 2/3 of the timeout on.
            t0 = time.monotonic()
            deadline = t0 + timeout
            while time.monotonic() < deadline:
                master_alive = self.pid is not None
                pids = self._our_pids()
                if not pids:
                    break
                elapsed = time.monotonic() - t0
                sig = None
                if elapsed > timeout * 2 / 3:
                    sig = signal.SIGKILL
                elif not master_alive or elapsed > timeout / 3:
                    sig = signal.SIGTERM
                if sig is not None:
                    for pid in pids:
                        try:
                            os.kill(pid, sig)
                        except OSError:
                            pass
                time.sleep(0.05)
            if self.proc is not None:
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:
            self.started = False
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
            if self._active_socket and not self._active_socket.startswith(self.dir + "/"):
                # the socket lives in someone else's dir (e.g. Postfix's
                # private/): don't leave it behind
                try:
                    os.unlink(self._active_socket)
                except OSError:
                    pass
            self._active_socket = None
            self._stop_watchdog()
            if self._cleanup_token is not None:
                unregister_cleanup(self._cleanup_token)
                self._cleanup_token = None
            d, self.dir = self.dir, None
            remove_tree(d)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------- the log
    def log(self):
        """Full text of dovecot.log ('' if none yet)."""
        return _read(self.log_path) if self.dir else ""

    def log_lines(self):
        return self.log().splitlines()

    def log_offset(self):
        """Current log length; pass as start= to wait_log to see only newer lines."""
        return len(self.log())

    def wait_log(self, pattern, timeout=10, start=0):
        """Wait (bounded) until a log line matches regex `pattern` (searching
        from character offset `start`); return the match."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()[start:]), timeout=timeout,
                          what="dovecot log line /%s/" % pattern)

    # -------------------------------------------- direct auth protocol client
    def _connect(self, timeout):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.socket_path)
            s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
            f = s.makefile("rb")
            mechs = []
            while True:
                line = f.readline()
                if not line:
                    raise DovecotError("auth socket closed during the handshake")
                parts = line.rstrip(b"\n").decode("utf-8", "replace").split("\t")
                if parts[0] == "MECH" and len(parts) > 1:
                    mechs.append(parts[1].upper())
                elif parts[0] == "DONE":
                    return s, f, mechs
        except BaseException:
            s.close()
            raise

    def mechanisms_offered(self, timeout=5):
        """The mechanisms the auth socket announces (e.g. ['PLAIN', 'LOGIN'])."""
        s, f, mechs = self._connect(timeout)
        f.close()
        s.close()
        return mechs

    def authenticate(self, user, password, mech="PLAIN", service="smtp",
                     rip="127.0.0.1", lip="127.0.0.1", timeout=10):
        """Ask the auth socket directly, as Postfix would. Returns (ok, fields):
        ok is True for OK, False for FAIL; fields is a dict of the reply's
        key=value args (e.g. {'user': 'alice@example.test'})."""
        mech = mech.upper()
        s, f, _mechs = self._connect(timeout)
        try:
            common = "service=%s\tnologin\tlip=%s\trip=%s" % (service, lip, rip)
            if mech == "PLAIN":
                resp = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
                s.sendall(("AUTH\t1\tPLAIN\t%s\tresp=%s\n" % (common, resp)).encode())
                answers = []
            elif mech == "LOGIN":
                s.sendall(("AUTH\t1\tLOGIN\t%s\n" % common).encode())
                answers = [user, password]
            else:
                raise ValueError("mechanism %r not supported here" % mech)
            while True:
                line = f.readline()
                if not line:
                    raise DovecotError("auth socket closed during AUTH")
                parts = line.rstrip(b"\n").decode("utf-8", "replace").split("\t")
                if parts[0] == "CONT" and answers:
                    s.sendall(("CONT\t1\t%s\n" % base64.b64encode(answers.pop(0).encode()).decode())
                              .encode())
                    continue
                if parts[0] in ("OK", "FAIL"):
                    fields = {}
                    for a in parts[2:]:
                        k, _, v = a.partition("=")
                        fields[k] = v
                    return parts[0] == "OK", fields
                raise DovecotError("unexpected auth reply %r" % line)
        finally:
            f.close()
            s.close()

    # --------------------------------------------------------------- misc
    def tcp_listeners(self):
        """'addr:port' of every TCP socket in LISTEN state that one of this
        instance's processes holds (should be empty: auth-only)."""
        inodes = set()
        for pid in self._our_pids():
            fd_dir = "/proc/%d/fd" % pid
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                m = re.match(r"socket:\[(\d+)\]$", target)
                if m:
                    inodes.add(m.group(1))
        out = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as fh:
                    rows = fh.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                    addr, port = cols[1].split(":")
                    out.append("%s:%d" % (addr, int(port, 16)))
        return out


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
