"""SMTP test clients: an exact-bytes socket client, smtplib and swaks wrappers.

Nothing here resolves names: addresses are numeric, smtplib always gets an
explicit local_hostname (otherwise it calls socket.getfqdn()), and swaks runs
with gethostbyname() overridden (swaks always looks up the local hostname).
"""

import os
import re
import smtplib
import socket
import subprocess
import time
import uuid

__all__ = ["Reply", "RawClient", "ProtocolError", "ConnectionClosed", "parse_replies",
           "smtplib_client", "run_swaks", "swaks_send", "make_message", "new_message_id"]


class ProtocolError(AssertionError):
    pass


class ConnectionClosed(ProtocolError):
    pass


class Reply:
    """One complete SMTP reply.

    code     int (from the final line), e.g. 250
    lines    list[str]: text of each line after 'ddd-'/'ddd ' ('' for '250 ')
    raw      bytes exactly as received, all lines incl. CRLFs
    codes    list[str]: the 3-char code of every line (to spot a reply whose
             code changes mid-reply)
    """

    def __init__(self, raw_lines):
        self.raw_lines = list(raw_lines)
        self.raw = b"".join(self.raw_lines)
        self.codes = []
        self.lines = []
        for rl in self.raw_lines:
            s = rl.decode("utf-8", "surrogateescape").rstrip("\r\n")
            self.codes.append(s[:3])
            self.lines.append(s[4:])
        last = self.codes[-1] if self.codes else ""
        self.code = int(last) if last.isdigit() else -1

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def first(self):
        return self.lines[0] if self.lines else ""

    @property
    def enhanced(self):
        """Enhanced status code of the final line ('2.0.0') or None."""
        m = re.match(r"^([245]\.\d{1,3}\.\d{1,3})\b", self.lines[-1] if self.lines else "")
        return m.group(1) if m else None

    @property
    def klass(self):
        return self.code // 100

    def __str__(self):
        return self.raw.decode("utf-8", "replace").rstrip("\r\n")

    def __repr__(self):
        return "<Reply %r>" % (self.raw[:300],)


def parse_replies(data):
    """Split bytes into complete replies. Returns (replies, leftover bytes).
    A line continues a reply when its 4th byte is '-'."""
    replies = []
    pending = []
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl + 1]
        pos = nl + 1
        pending.append(line)
        if not (len(line) >= 4 and line[3:4] == b"-"):
            replies.append(Reply(pending))
            pending = []
    leftover = b"".join(pending) + data[pos:]
    return replies, leftover


class RawClient:
    """A socket SMTP client that sends exact bytes and reads whole replies.

        c = RawClient(port, source="127.0.0.5")    # connects immediately
        c.banner()                                  # -> Reply (expects 220 by default)
        c.cmd("EHLO x.test")                        # send line + CRLF, read 1 reply
        c.send(b"MAIL FROM:<a@b>\\r\\nRCPT TO:<c@d>\\r\\n")   # pipelined, 1 send()
        c.read_replies(2)
        c.send_split(data, sizes=[1, 5, 3], pause=0.05)  # several send() calls
        c.send_bytewise(data, pause=0.005)
        c.read_reply(timeout=5)                     # raises ConnectionClosed / socket.timeout
        c.wait_closed(timeout=5)                    # True if the peer closed
        c.close()

    host may also be a UNIX socket path (unix=True).
    Every read is bounded by `timeout` (default 10s).
    """

    def __init__(self, port=None, host="127.0.0.1", source=None, timeout=10.0,
                 unix_path=None, connect=True):
        self.host = host
        self.port = port
        self.source = source
        self.timeout = timeout
        self.unix_path = unix_path
        self.sock = None
        self.buf = b""
        self.received = bytearray()     # every byte ever read
        self.sent = bytearray()         # every byte ever sent
        self.eof = False
        if connect:
            self.connect()

    def connect(self):
        if self.unix_path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            s.connect(self.unix_path)
        else:
            s = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            if self.source:
                s.bind((self.source, 0))
            s.connect((self.host, self.port))
        self.sock = s
        return self

    @property
    def local_address(self):
        return self.sock.getsockname()

    # ----------------------------------------------------------- sending
    def send(self, data):
        """Send bytes (str is encoded UTF-8) in a single sendall()."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)
        self.sent += data

    def send_line(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")

    def send_split(self, data, sizes=None, at=None, pause=0.05):
        """Send in several send() calls with pauses in between.
        sizes=[n1, n2, ...]: chunk lengths (the rest goes last);
        at=[i1, i2, ...]: split offsets. Default: split in halves."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if at is None:
            if sizes is None:
                at = [len(data) // 2]
            else:
                at, acc = [], 0
                for n in sizes:
                    acc += n
                    at.append(acc)
        chunks, prev = [], 0
        for i in sorted(set(at)):
            if 0 < i < len(data):
                chunks.append(data[prev:i])
                prev = i
        chunks.append(data[prev:])
        for i, ch in enumerate(chunks):
            if ch:
                self.send(ch)
            if i != len(chunks) - 1:
                time.sleep(pause)

    def send_bytewise(self, data, pause=0.002):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.send_split(data, at=range(1, len(data)), pause=pause)

    # ----------------------------------------------------------- reading
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for data (have %r)" % self.buf[:200])
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        self.received += chunk
        return True

    def read_reply(self, timeout=None):
        """Read one complete (possibly multi-line) reply; bounded by timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            replies, _ = parse_replies(self.buf)
            if replies:
                r = replies[0]
                self.buf = self.buf[len(r.raw):]
                return r
            if self.eof or not self._fill(deadline):
                raise ConnectionClosed("connection closed while waiting for a reply (partial: %r)"
                                       % self.buf[:300])

    def read_replies(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        return [self.read_reply(timeout=max(0.001, deadline - time.monotonic())) for _ in range(n)]

    def read_available(self, wait=0.3):
        """Read whatever arrives within `wait` seconds (no parsing)."""
        deadline = time.monotonic() + wait
        try:
            while not self.eof and self._fill(deadline):
                pass
        except (socket.timeout, TimeoutError):
            pass
        out, self.buf = self.buf, b""
        return out

    def expect(self, code, timeout=None):
        """Read one reply and assert its code (int, or iterable of ints, or
        a class like '4xx')."""
        r = self.read_reply(timeout)
        _check_code(r, code)
        return r

    def banner(self, expect=220, timeout=None):
        r = self.read_reply(timeout)
        if expect is not None:
            _check_code(r, expect)
        return r

    def cmd(self, line, expect=None, timeout=None):
        """Send one command line (CRLF appended) and read its reply."""
        self.send_line(line)
        r = self.read_reply(timeout)
        if expect is not None:
            _check_code(r, expect)
        return r

    def ehlo(self, name="client.test", expect=250):
        return self.cmd("EHLO " + name, expect=expect)

    def send_message(self, mail_from, rcpts, data, pipelined=False, expect_final=250):
        """Simple transaction helper. `data` is the message (bytes/str, CRLF
        line ends); dot-stuffing and the final CRLF.CRLF are added here.
        Returns the list of replies (MAIL, RCPT..., DATA, end-of-data)."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if isinstance(data, str):
            data = data.encode("utf-8")
        cmds = ["MAIL FROM:<%s>" % mail_from] + ["RCPT TO:<%s>" % r for r in rcpts] + ["DATA"]
        if pipelined:
            self.send("".join(c + "\r\n" for c in cmds))
            replies = self.read_replies(len(cmds))
        else:
            replies = [self.cmd(c) for c in cmds]
        if replies[-1].code != 354:
            return replies
        self.send(dot_stuff(data) + b".\r\n")
        final = self.read_reply()
        replies.append(final)
        if expect_final is not None:
            _check_code(final, expect_final)
        return replies

    def wait_closed(self, timeout=5.0):
        """Wait until the peer closes (reading and keeping whatever comes)."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                self._fill(deadline)
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            self.eof = True
        return True

    def quit(self):
        try:
            r = self.cmd("QUIT")
        except (OSError, ProtocolError):
            r = None
        self.close()
        return r

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _check_code(reply, code):
    if isinstance(code, str):  # '4xx'
        ok = str(reply.code)[0] == code[0]
    elif isinstance(code, int):
        ok = reply.code == code
    else:
        ok = reply.code in code
    if not ok:
        raise ProtocolError("expected %s, got %s" % (code, str(reply)))


def dot_stuff(data):
    """Dot-stuff a message (bytes, CRLF line ends); ensures it ends in CRLF."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..")


def new_message_id(domain="client.test"):
    return "<%s@%s>" % (uuid.uuid4().hex, domain)


def make_message(message_id=None, subject="test", body="Hello.\r\n", mail_from="sender@client.test",
                 to="alice@example.test", headers=None, size=None):
    """Build an RFC 5322 message (bytes, CRLF). Returns (message_id, bytes).
    size=N pads the body with 'x' lines until the message is at least N bytes."""
    message_id = message_id or new_message_id()
    hdrs = [("From", "<%s>" % mail_from), ("To", "<%s>" % to), ("Subject", subject),
            ("Date", time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())),
            ("Message-ID", message_id)]
    hdrs += list(headers or [])
    text = "".join("%s: %s\r\n" % (k, v) for k, v in hdrs) + "\r\n"
    if isinstance(body, bytes):
        raw = text.encode("utf-8") + body
    else:
        raw = (text + body).encode("utf-8")
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if size is not None and len(raw) < size:
        line = b"x" * 76 + b"\r\n"
        need = size - len(raw)
        raw += line * (need // len(line) + 1)
    return message_id, raw


def smtplib_client(port, host="127.0.0.1", source=None, timeout=10, local_hostname="client.test"):
    """smtplib.SMTP connected to host:port (from `source` if given). Always
    passes local_hostname so smtplib never calls socket.getfqdn()."""
    return smtplib.SMTP(host, port, local_hostname=local_hostname, timeout=timeout,
                        source_address=(source, 0) if source else None)


# swaks calls gethostbyname(hostname()) unconditionally; override it so that
# no name lookup (files or DNS) ever happens.
_SWAKS_PRELUDE = ('BEGIN { *CORE::GLOBAL::gethostbyname = sub { return ($_[0]) }; } '
                  '$0 = "swaks"; do "%s"; die $@ if $@; exit 0;')


def swaks_path():
    for p in ("/usr/bin/swaks", "/usr/local/bin/swaks"):
        if os.access(p, os.X_OK):
            return p
    return None


def run_swaks(args, timeout=60):
    """Run swaks with `args` (a list); returns subprocess.CompletedProcess
    with text stdout/stderr. No DNS: see _SWAKS_PRELUDE."""
    sw = swaks_path()
    if sw is None:
        raise RuntimeError("swaks is not installed")
    cmd = ["perl", "-e", _SWAKS_PRELUDE % sw, "--"] + list(args)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, text=True, errors="replace")


def swaks_send(port, to="alice@example.test", mail_from="sender@client.test", host="127.0.0.1",
               helo="client.test", message_id=None, body="Hello from swaks.", data=None,
               source=None, extra=None, timeout=60):
    """Send one message with swaks. Returns (CompletedProcess, message_id).
    `data` (str) replaces the whole message if given; otherwise a Message-Id
    header is added (generated if not given)."""
    args = ["--server", host, "--port", str(port), "--to", to, "--from", mail_from,
            "--helo", helo, "--timeout", "30"]
    if source:
        args += ["--local-interface", source]
    if data is not None:
        args += ["--data", data]
    else:
        message_id = message_id or new_message_id()
        args += ["--header", "Message-Id: %s" % message_id, "--body", body]
    args += list(extra or [])
    return run_swaks(args, timeout=timeout), message_id
