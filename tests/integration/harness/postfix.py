"""PrivatePostfix: a throwaway, fully private Postfix instance for tests.

Everything lives under one temp dir:

    <tmp>/etc/        config_directory: main.cf, master.cf, vmailbox, aliases
    <tmp>/spool/      queue_directory (root 0755, subdirs owned by postfix)
    <tmp>/data/       data_directory (postfix 0700)
    <tmp>/mail/       virtual_mailbox_base, maildirs owned by nobody
    <tmp>/maillog     Postfix's log (maillog_file via postlogd)

The instance listens on 127.0.0.1:<port> only (no port 25, no IPv6), does no
DNS at all (no smtp/lmtp client transports exist; default/relay transports
are `error:`; peername lookup off), accepts mail for the virtual mailbox
domain example.test (users alice, bob, carol, postmaster by default), rejects
unknown recipients at RCPT with 550 5.1.1 and non-local domains with 554
5.7.1, and trusts XCLIENT/XFORWARD from 127.0.0.0/8.

With sasl=PrivateDovecot(...) it also offers SMTP AUTH (Dovecot SASL, no TLS
required): an authenticated client may relay to any domain, an
unauthenticated one still gets 554 5.7.1 Relay access denied. mynetworks
(127.0.0.0/8) is not in smtpd_relay_restrictions, so a loopback client is
not trusted for relaying by its address. Relayed mail does not leave either:
default_transport is then `relayed`, a virtual(8) that stores every
non-local recipient's copy in one maildir, <tmp>/mail/relayed/ (see
relayed_messages()). Without sasl, default_transport stays `error:` (an
`error:` transport makes smtpd refuse the recipient at RCPT with 550 5.7.1,
so authenticated relaying needs a transport that accepts).

It must be run as root (Postfix's master runs as root and drops privileges).
It uses the installed binaries (/usr/sbin/postfix, /usr/lib/postfix/sbin) and
the shared meta files in /etc/postfix read-only; it never touches the stock
instance's config, queue or port 25, so it works whether the stock service is
running or not.
"""

import email
import email.policy
import glob
import os
import pwd
import grp
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from .util import (free_port, wait_until, WaitTimeout, make_tempdir, remove_tree,
                   register_cleanup, unregister_cleanup, keep_tmp)

__all__ = ["PrivatePostfix", "DeliveredMessage", "PostfixError", "postfix_available"]

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"

_instance_counter = [0]
_counter_lock = threading.Lock()


class PostfixError(RuntimeError):
    pass


def postfix_available():
    """(ok, reason): can a PrivatePostfix run here?"""
    if os.geteuid() != 0:
        return False, "PrivatePostfix needs root"
    if not os.access(POSTFIX, os.X_OK):
        return False, "postfix is not installed (%s missing)" % POSTFIX
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError:
        return False, "postfix user or postdrop group missing"
    return True, ""


class DeliveredMessage:
    """One message found in a maildir of the private instance."""

    def __init__(self, path, mailbox, raw):
        self.path = path
        self.mailbox = mailbox          # e.g. "alice@example.test"
        self.raw = raw                  # bytes exactly as stored (LF line ends)
        self.msg = email.message_from_bytes(raw, policy=email.policy.default)

    @property
    def message_id(self):
        v = self.msg.get("Message-ID")
        return str(v).strip() if v is not None else None

    @property
    def queue_id(self):
        """Postfix queue id from the topmost Received: header ('... with ESMTP id X')."""
        for rcv in self.msg.get_all("Received") or []:
            m = re.search(r"\bwith\s+\S+\s+id\s+([0-9A-Za-z]+)", str(rcv))
            if m:
                return m.group(1)
        return None

    @property
    def delivered_to(self):
        v = self.msg.get("Delivered-To")
        return str(v) if v is not None else None

    @property
    def return_path(self):
        v = self.msg.get("Return-Path")
        return str(v) if v is not None else None

    def body_bytes(self):
        """The raw body (after the first empty line)."""
        sep = self.raw.find(b"\n\n")
        return self.raw[sep + 2:] if sep >= 0 else b""

    def __repr__(self):
        return "<DeliveredMessage %s %s qid=%s>" % (self.mailbox, self.message_id, self.queue_id)


_RELAYED = "relayed"     # maildir (under mail_dir) for relayed mail, sasl only

_MASTER_CF = """\
# Private test instance: every service unchrooted, smtpd on one loopback port.
# No smtp/lmtp client services: nothing can leave this instance, and nothing
# can make a DNS query.
{listen} inet n - n - - smtpd
{unix_listen}pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
{extra}"""


class PrivatePostfix:
    """A private Postfix instance. Use as a context manager or call start()/stop().

    Parameters:
      port                 TCP port on 127.0.0.1 (default: free_port())
      name                 instance tag used in syslog_name (postfix-<name>)
      domain               the virtual mailbox domain (default example.test)
      users                local parts with a mailbox (default alice,bob,carol,postmaster)
      message_size_limit   bytes (default 10240000)
      helo_required        smtpd_helo_required (default False)
      long_queue_ids       enable_long_queue_ids (default False)
      unix_socket          also run smtpd on a UNIX socket (see .unix_path)
      main_cf              dict of extra/overriding main.cf parameters
      master_cf_extra      extra master.cf text
      sasl                 a PrivateDovecot (harness/dovecot.py) to enable SMTP
                           AUTH with. Not started yet: start() starts it with
                           its socket at <queue_dir>/private/auth
                           (smtpd_sasl_path = private/auth) and stop() stops
                           it. Already started: its own socket_path is used
                           and its lifetime is the caller's business.
    """

    def __init__(self, port=None, name=None, domain="example.test", users=None,
                 message_size_limit=10240000, helo_required=False,
                 long_queue_ids=False, unix_socket=False, main_cf=None,
                 master_cf_extra="", sasl=None):
        ok, why = postfix_available()
        if not ok:
            raise PostfixError(why)
        with _counter_lock:
            _instance_counter[0] += 1
            n = _instance_counter[0]
        self.name = name or "t%d-%d" % (os.getpid(), n)
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.name):
            raise ValueError("bad instance name %r" % self.name)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.domain = domain
        self.users = list(users) if users is not None else ["alice", "bob", "carol", "postmaster"]
        self.message_size_limit = message_size_limit
        self.helo_required = helo_required
        self.long_queue_ids = long_queue_ids
        self.unix_socket = unix_socket
        self.main_cf_extra = dict(main_cf or {})
        self.master_cf_extra = master_cf_extra
        self.sasl = sasl
        self._owns_sasl = False
        self.syslog_name = "postfix-" + self.name
        self.hostname = "%s.postfix.test" % self.name.replace("_", "-").lower()

        self.dir = None
        self.started = False
        self._cleanup_token = None
        self._watchdog = None

    # ------------------------------------------------------------------ paths
    @property
    def config_dir(self):
        return os.path.join(self.dir, "etc")

    @property
    def queue_dir(self):
        return os.path.join(self.dir, "spool")

    @property
    def data_dir(self):
        return os.path.join(self.dir, "data")

    @property
    def mail_dir(self):
        return os.path.join(self.dir, "mail")

    @property
    def maillog_path(self):
        return os.path.join(self.dir, "maillog")

    @property
    def unix_path(self):
        """Path of the UNIX-socket smtpd (only with unix_socket=True)."""
        return os.path.join(self.queue_dir, "public", "smtpd")

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def sasl_socket(self):
        """Absolute path of the Dovecot auth socket smtpd uses (None without sasl)."""
        if self.sasl is None:
            return None
        if self.sasl.started and not self._owns_sasl:
            return self.sasl.socket_path
        return os.path.join(self.queue_dir, "private", "auth")

    @property
    def sasl_path(self):
        """The smtpd_sasl_path value (None without sasl): 'private/auth',
        relative to queue_directory (smtpd is not chrooted here, its cwd is
        the queue dir), or a started PrivateDovecot's absolute socket path."""
        if self.sasl is None:
            return None
        if self.sasl.started and not self._owns_sasl:
            return self.sasl.socket_path
        return "private/auth"

    # --------------------------------------------------------------- config
    def _vuid(self):
        try:
            pw = pwd.getpwnam("nobody")
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pw = pwd.getpwnam("postfix")
            return pw.pw_uid, pw.pw_gid

    def main_cf_params(self):
        uid, gid = self._vuid()
        d = self.dir
        p = {
            "compatibility_level": "3.6",
            "meta_directory": "/etc/postfix",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "syslog_name": self.syslog_name,
            "maillog_file": self.maillog_path,
            "maillog_file_prefixes": d,
            "myhostname": self.hostname,
            "mydomain": "postfix.test",
            "myorigin": "$myhostname",
            # mail for self.domain is virtual-mailbox delivered; nothing is
            # delivered by local(8).
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "relay_domains": "",
            # Nothing leaves this instance and nothing resolves names.
            "default_transport": "error:5.7.1 outbound mail is disabled in this test instance",
            "relay_transport": "error:5.7.1 outbound mail is disabled in this test instance",
            "smtp_dns_support_level": "disabled",
            "lmtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "smtpd_authorized_xforward_hosts": "127.0.0.0/8",
            "smtpd_helo_required": "yes" if self.helo_required else "no",
            "smtpd_client_restrictions": "",
            "smtpd_helo_restrictions": "",
            "smtpd_sender_restrictions": "",
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "smtpd_data_restrictions": "",
            "smtpd_reject_unlisted_recipient": "yes",
            "unknown_virtual_mailbox_reject_code": "550",
            "smtpd_banner": "$myhostname ESMTP Postfix (sluice test instance)",
            "smtpd_tls_security_level": "none",
            "smtpd_sasl_auth_enable": "no",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": self.mail_dir,
            "virtual_mailbox_maps": "texthash:" + os.path.join(self.config_dir, "vmailbox"),
            "virtual_uid_maps": "static:%d" % uid,
            "virtual_gid_maps": "static:%d" % gid,
            "virtual_minimum_uid": "1",
            "virtual_mailbox_limit": "0",
            "message_size_limit": str(self.message_size_limit),
            "mailbox_size_limit": "0",
            "enable_long_queue_ids": "yes" if self.long_queue_ids else "no",
            "biff": "no",
            "append_dot_mydomain": "no",
            "readme_directory": "no",
            "notify_classes": "",
            "delay_warning_time": "0",
            "in_flow_delay": "0",
            "smtputf8_enable": "yes",
            "bounce_notice_recipient": "postmaster@" + self.domain,
            "2bounce_notice_recipient": "postmaster@" + self.domain,
            "error_notice_recipient": "postmaster@" + self.domain,
            "delay_notice_recipient": "postmaster@" + self.domain,
        }
        if self.sasl is not None:
            p.update(self.sasl_main_cf_params())
        p.update(self.main_cf_extra)
        return p

    def sasl_main_cf_params(self):
        """main.cf parameters set on top of the defaults when sasl is given."""
        return {
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": self.sasl_path,
            "smtpd_sasl_service": "smtp",
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_sasl_local_domain": "",
            "smtpd_sasl_authenticated_header": "no",
            # sluice terminates TLS: Postfix sees plaintext from sluice
            "smtpd_tls_auth_only": "no",
            "broken_sasl_auth_clients": "no",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject_unauth_destination",
            # authenticated relaying must be accepted at RCPT (an error:
            # transport is refused there): deliver it to one local maildir
            "default_transport": "relayed",
            "relay_transport": "relayed",
        }

    def _master_cf_extra(self):
        extra = self.master_cf_extra
        if self.sasl is not None:
            if extra and not extra.endswith("\n"):
                extra += "\n"
            # relayed mail (sasl only): every recipient's copy goes to
            # <mail_dir>/relayed/ (a static map: any address is "known")
            extra += ("relayed   unix  -       n       n       -       -       virtual\n"
                      "  -o virtual_mailbox_maps=static:%s/\n" % _RELAYED)
        return extra

    def _write_config(self):
        os.makedirs(self.config_dir, mode=0o755)
        os.makedirs(self.queue_dir, mode=0o755)
        os.makedirs(self.mail_dir, mode=0o700)
        uid, gid = self._vuid()
        os.chown(self.mail_dir, uid, gid)

        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write("# generated by tests/integration/harness/postfix.py\n")
            for k, v in self.main_cf_params().items():
                f.write("%s = %s\n" % (k, v))
        unix_line = ""
        if self.unix_socket:
            # public/smtpd, mode 0666 inside a 0710 root:postdrop dir: root
            # (the tests, sluice run as root) can connect.
            unix_line = "smtpd     unix  n       -       n       -       -       smtpd\n"
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(_MASTER_CF.format(listen="127.0.0.1:%d" % self.port,
                                      unix_listen=unix_line,
                                      extra=self._master_cf_extra()))
        with open(os.path.join(self.config_dir, "vmailbox"), "w") as f:
            for u in self.users:
                f.write("%s@%s %s/%s/\n" % (u, self.domain, self.domain, u))
        with open(os.path.join(self.config_dir, "aliases"), "w") as f:
            f.write("postmaster: root\n")

    def _run(self, args, timeout=60, check=True):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run([POSTFIX, "-c", self.config_dir] + args,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, env=env)
        out = p.stdout.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise PostfixError("postfix %s failed (rc=%d): %s\n--- maillog ---\n%s"
                               % (" ".join(args), p.returncode, out.strip(), self.maillog()[-4000:]))
        return p.returncode, out

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout=60):
        if self.started:
            return self
        self.dir = make_tempdir("sluice-pf-%s-" % self.name)
        self._cleanup_token = register_cleanup(self.stop)
        try:
            self._write_config()
            self._start_watchdog()
            self._run(["check"], timeout=timeout)
            self._start_sasl(timeout)
            self._run(["start"], timeout=timeout)
            self.started = True
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_sasl(self, timeout):
        """Start an unstarted PrivateDovecot with its socket in private/
        (which `postfix check` has just created, postfix-owned 0700)."""
        if self.sasl is None or self.sasl.started:
            return
        private = os.path.join(self.queue_dir, "private")
        if not os.path.isdir(private):
            pw = pwd.getpwnam("postfix")
            os.makedirs(private, mode=0o700)
            os.chown(private, pw.pw_uid, 0)
        self._owns_sasl = True
        self.sasl.start(socket_path=self.sasl_socket, timeout=timeout)

    def _start_watchdog(self):
        """A process in its own session that aborts this instance and removes
        its dir if the test process dies without calling stop() (e.g. meson's
        SIGKILL of the test's process group after a timeout)."""
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pf_watchdog.py")
        self._watchdog = subprocess.Popen(
            [sys.executable, script, self.config_dir, self.queue_dir, self.dir,
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

    def master_pid(self):
        """PID of this instance's running master, or None."""
        if not self.dir:
            return None
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        # Alive, not a zombie, and really ours (cwd = our queue dir).
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return None
            if os.path.realpath(os.readlink("/proc/%d/cwd" % pid)) != os.path.realpath(self.queue_dir):
                return None
        except (OSError, IndexError):
            return None
        return pid

    def wait_ready(self, timeout=30):
        """Wait (bounded) until smtpd on the port answers with a 220 banner."""
        last = ["no attempt"]

        def probe():
            if self.master_pid() is None:
                raise PostfixError("postfix master is not running\n--- maillog ---\n%s"
                                   % self.maillog()[-4000:])
            try:
                with socket.create_connection((self.host, self.port), timeout=5) as s:
                    s.settimeout(5)
                    data = b""
                    while b"\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if data.startswith(b"220 "):
                        try:
                            s.sendall(b"QUIT\r\n")
                            s.recv(4096)
                        except OSError:
                            pass
                        return True
                    last[0] = "banner %r" % data[:200]
            except OSError as e:
                last[0] = str(e)
            return False
        try:
            wait_until(probe, timeout=timeout, interval=0.1,
                       what="postfix %s to answer 220 on %s" % (self.name, self.address))
        except WaitTimeout as e:
            raise WaitTimeout("%s (last: %s)\n--- maillog ---\n%s"
                              % (e, last[0], self.maillog()[-4000:])) from None
        if self.unix_socket:
            wait_until(lambda: os.path.exists(self.unix_path), timeout=timeout,
                       what="UNIX smtpd socket %s" % self.unix_path)
        return True

    def _our_pids(self):
        """PIDs of processes whose cwd is our queue dir: the master and all
        its children chdir there. This finds only our instance's processes."""
        if not self.dir:
            return []
        qd = os.path.realpath(self.queue_dir)
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cwd = os.readlink("/proc/%s/cwd" % entry)
            except OSError:
                continue
            if cwd == qd or cwd.startswith(qd + "/"):
                pids.append(int(entry))
        return pids

    def stop(self, timeout=20):
        """Stop the instance (postfix stop, then abort, then SIGKILL of our
        own processes only), wait until they are gone, remove the temp dir."""
        if self.dir is None:
            return
        try:
            if self.master_pid() is not None:
                try:
                    self._run(["stop"], timeout=timeout, check=False)
                except subprocess.TimeoutExpired:
                    pass
                if self.master_pid() is not None:
                    try:
                        self._run(["abort"], timeout=10, check=False)
                    except subprocess.TimeoutExpired:
                        pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                pids = self._our_pids()
                if not pids:
                    break
                if time.monotonic() > deadline - timeout / 2:
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                time.sleep(0.1)
            for pid in self._our_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        finally:
            self.started = False
            if self._owns_sasl:
                self._owns_sasl = False
                try:
                    self.sasl.stop()
                except Exception:  # noqa: BLE001 - still remove our dir
                    pass
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
    def maillog(self):
        """Full text of the instance's maillog ('' if none yet)."""
        if not self.dir:
            return ""
        try:
            with open(self.maillog_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def maillog_lines(self):
        return self.maillog().splitlines()

    _QID_LINE = re.compile(
        r"(?P<prog>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)\[(?P<pid>\d+)\]: "
        r"(?P<qid>[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}): (?P<rest>.*)$")

    def log_records(self):
        """Lines of the form 'prog[pid]: QUEUEID: text' as dicts
        {prog, pid, qid, rest, line}; prog is e.g. 'postfix-t1/smtpd'."""
        out = []
        for line in self.maillog_lines():
            m = self._QID_LINE.search(line)
            if m and m.group("prog").startswith(self.syslog_name + "/"):
                d = m.groupdict()
                d["line"] = line
                out.append(d)
        return out

    def queue_ids(self):
        """Queue ids created by smtpd, in log order ('QID: client=...' lines)."""
        return [r["qid"] for r in self.log_records()
                if r["prog"].endswith("/smtpd") and r["rest"].startswith("client=")]

    def queue_info(self):
        """qid -> dict with what the log says about that queue file:
        client, orig_client (XCLIENT), sasl_method and sasl_username (SMTP
        AUTH), message_id, from, size, nrcpt, to (list), status (list),
        committed (qmgr saw it, i.e. the message was accepted with 250),
        removed, lines."""
        info = {}
        for r in self.log_records():
            q = info.setdefault(r["qid"], {"qid": r["qid"], "client": None, "orig_client": None,
                                           "sasl_method": None, "sasl_username": None,
                                           "message_id": None, "from": None, "size": None,
                                           "nrcpt": None, "to": [], "status": [],
                                           "committed": False, "removed": False, "lines": []})
            q["lines"].append(r["line"])
            rest = r["rest"]
            prog = r["prog"].rsplit("/", 1)[1]
            if prog == "smtpd" and rest.startswith("client="):
                m = re.match(r"client=(\S+?)(?:,|$)", rest)
                q["client"] = m.group(1) if m else rest[7:]
                m = re.search(r"orig_client=(\S+?)(?:,|$)", rest)
                if m:
                    q["orig_client"] = m.group(1)
                m = re.search(r"sasl_method=(\S+?)(?:,|$)", rest)
                if m:
                    q["sasl_method"] = m.group(1)
                m = re.search(r"sasl_username=(\S+?)(?:,|$)", rest)
                if m:
                    q["sasl_username"] = m.group(1)
            elif prog == "cleanup":
                m = re.match(r"message-id=(.*)$", rest)
                if m:
                    q["message_id"] = m.group(1).strip()
            elif prog == "qmgr":
                q["committed"] = True
                if rest == "removed":
                    q["removed"] = True
                m = re.match(r"from=<(.*?)>, size=(\d+), nrcpt=(\d+)", rest)
                if m:
                    q["from"] = m.group(1)
                    q["size"] = int(m.group(2))
                    q["nrcpt"] = int(m.group(3))
            else:
                m = re.match(r"to=<(.*?)>.*status=(\S+)", rest)
                if m:
                    q["to"].append(m.group(1))
                    q["status"].append(m.group(2))
        return info

    def queue_id_for(self, message_id):
        """Queue id whose cleanup line logged this Message-ID (angle brackets
        optional), or None."""
        want = _norm_mid(message_id)
        for qid, q in self.queue_info().items():
            if q["message_id"] and _norm_mid(q["message_id"]) == want:
                return qid
        return None

    def committed_queue_ids(self):
        return [qid for qid, q in self.queue_info().items() if q["committed"]]

    def wait_log(self, pattern, timeout=10, start=0):
        """Wait (bounded) until a maillog line matches regex `pattern`
        (searching from character offset `start`); return the match."""
        rx = re.compile(pattern)

        def find():
            return rx.search(self.maillog()[start:])
        return wait_until(find, timeout=timeout, what="maillog line /%s/" % pattern)

    def log_offset(self):
        """Current maillog length; pass as start= to wait_log to only see newer lines."""
        return len(self.maillog())

    # -------------------------------------------------------- delivered mail
    @property
    def relay_dir(self):
        """Maildir receiving relayed (non-local) mail when sasl is enabled."""
        return os.path.join(self.mail_dir, _RELAYED)

    def relayed_messages(self):
        """Messages relayed to non-local domains (sasl only; oldest first).
        .mailbox is the recipient (the Delivered-To: header)."""
        if not self.dir:
            return []
        out = []
        for path in glob.glob(os.path.join(self.relay_dir, "new", "*")):
            try:
                with open(path, "rb") as f:
                    raw = f.read()
                st = os.stat(path)
            except OSError:
                continue
            dm = DeliveredMessage(path, None, raw)
            dm.mailbox = dm.delivered_to
            dm.mtime = st.st_mtime
            out.append(dm)
        out.sort(key=lambda m: (m.mtime, m.path))
        return out

    def wait_for_relayed(self, message_id, timeout=15, count=1):
        """Wait (bounded) until `count` relayed copies of the message with
        this Message-ID are in the relay maildir; return them."""
        want = _norm_mid(message_id)

        def ready():
            found = [m for m in self.relayed_messages()
                     if m.message_id and _norm_mid(m.message_id) == want]
            return found if len(found) >= count else None
        try:
            return wait_until(ready, timeout=timeout, interval=0.1,
                              what="relay of Message-ID %s" % message_id)
        except WaitTimeout as e:
            raise WaitTimeout("%s\n--- maillog tail ---\n%s" % (e, self.maillog()[-3000:])) from None

    def messages(self, user=None):
        """Delivered messages (oldest first), optionally for one local part."""
        if not self.dir:
            return []
        pattern = os.path.join(self.mail_dir, self.domain, user or "*", "new", "*")
        out = []
        for path in glob.glob(pattern):
            try:
                with open(path, "rb") as f:
                    raw = f.read()
                st = os.stat(path)
            except OSError:
                continue
            mailbox = "%s@%s" % (path.split(os.sep)[-3], self.domain)
            dm = DeliveredMessage(path, mailbox, raw)
            dm.mtime = st.st_mtime
            out.append(dm)
        out.sort(key=lambda m: (m.mtime, m.path))
        return out

    def find_messages(self, message_id):
        want = _norm_mid(message_id)
        return [m for m in self.messages() if m.message_id and _norm_mid(m.message_id) == want]

    def wait_for_message(self, message_id, timeout=15, count=1):
        """Wait (bounded) until `count` copies (one per recipient) of the
        message with this Message-ID are in maildirs; return them."""
        def ready():
            found = self.find_messages(message_id)
            return found if len(found) >= count else None
        try:
            return wait_until(ready, timeout=timeout, interval=0.1,
                              what="delivery of Message-ID %s" % message_id)
        except WaitTimeout as e:
            raise WaitTimeout("%s\n--- maillog tail ---\n%s" % (e, self.maillog()[-3000:])) from None

    def assert_not_delivered(self, message_id, settle=1.0):
        """Wait `settle` seconds, then fail if the message was delivered or
        even committed to the queue."""
        time.sleep(settle)
        found = self.find_messages(message_id)
        if found:
            raise AssertionError("message %s was delivered: %r" % (message_id, found))
        qid = self.queue_id_for(message_id)
        if qid and self.queue_info()[qid]["committed"]:
            raise AssertionError("message %s was committed as %s" % (message_id, qid))

    # --------------------------------------------------------------- misc
    def postconf(self, *names):
        p = subprocess.run([POSTCONF, "-c", self.config_dir, "-h"] + list(names),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return p.stdout.decode().splitlines()

    def queue_is_empty(self):
        for sub in ("incoming", "active", "deferred", "hold", "maildrop"):
            for _root, _dirs, files in os.walk(os.path.join(self.queue_dir, sub)):
                if files:
                    return False
        return True


def _norm_mid(mid):
    mid = str(mid).strip()
    if mid.startswith("<") and mid.endswith(">"):
        mid = mid[1:-1]
    return mid
