"""FakeBackend: a scriptable SMTP server for faults real Postfix won't produce.

By default it behaves like a minimal, correct ESMTP server (PIPELINING, SIZE,
8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, XCLIENT, STARTTLS, AUTH PLAIN,
XFORWARD advertised). Every connection is served by its own thread, reads
lines, answers in order (several pipelined replies are flushed in one write,
like Postfix does, unless batch_replies=False) and detects end-of-data only
on CRLF.CRLF. Everything each connection received is recorded.

Scripting: `script` maps a key to what to do when that command arrives.
Keys are upper-case verbs ("EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
"XCLIENT", ...), plus:
    "CONNECT"  the greeting (same as the greeting= argument)
    "."        the end of DATA (after CRLF.CRLF was received)
    "*"        any command without a key of its own
Values:
    "250 ok"                 a reply; '\\n' separates lines; CRLFs are added
    b"raw bytes"             sent exactly as given
    Reply([...], ...)        a reply with timing options (split, byte by byte)
    Raw(b"...", ...)         exact bytes with timing options
    NoReply()                swallow the command, send nothing
    Stall()                  never answer anything again (keeps recording)
    Close(rst=False)         close the connection (optionally after sending)
    DropAfterData(n)         (DATA/BDAT) accept, then close after n body bytes
    Seq(a, b, ...)           several actions in order (e.g. Reply then Close)
    None                     the default behaviour
    callable(conn, line)     returns any of the above
    [v0, v1, ...]            v0 for the 1st occurrence of the verb in a
                             connection, v1 for the 2nd ...; the last repeats
`script` may also be a list of dicts (one per connection, in accept order,
the last repeats) or a callable(conn_index) -> dict.

    fb = FakeBackend(script={"RCPT": ["250 2.1.5 Ok", "550 5.1.1 no such user"],
                             ".": Reply("250 2.0.0 Ok: queued as X1", byte_delay=0.01)})
    with fb:
        ... fb.port ...
        c = fb.wait_connections(1)[0]
        c.verbs       -> ['EHLO', 'MAIL', 'RCPT', 'RCPT', 'DATA']
        c.messages    -> [b'...unstuffed message...']
"""

import base64
import os
import re
import socket
import struct
import threading
import time

from .util import free_port, wait_until, register_cleanup, unregister_cleanup

__all__ = ["FakeBackend", "Conn", "Action", "Reply", "Raw", "NoReply", "Stall", "Close",
           "DropAfterData", "Seq", "long_reply", "DEFAULT_EHLO_KEYWORDS"]

DEFAULT_EHLO_KEYWORDS = [
    "PIPELINING",
    "SIZE 10240000",
    "8BITMIME",
    "ENHANCEDSTATUSCODES",
    "CHUNKING",
    "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
    "STARTTLS",
    "AUTH PLAIN",
    "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT",
]


# --------------------------------------------------------------------- actions
class Action:
    """Base class. perform(server, conn, line) does the work."""

    def perform(self, srv, conn, line):
        raise NotImplementedError


def _to_bytes(lines):
    if isinstance(lines, (bytes, bytearray)):
        return bytes(lines)
    if isinstance(lines, str):
        lines = lines.split("\n")
    out = b""
    for ln in lines:
        if isinstance(ln, str):
            ln = ln.encode("utf-8")
        out += ln.rstrip(b"\r") + b"\r\n"
    return out


class Reply(Action):
    """Send a reply.

    lines       str ('\\n' separates lines), list of str, or bytes (exact)
    delay       seconds to sleep before sending
    byte_delay  send one byte at a time with this pause between bytes
    split_at    list of byte offsets: send in several writes ...
    chunk_pause ... with this pause between them (default 0.05s)
    """

    def __init__(self, lines, delay=0.0, byte_delay=None, split_at=None, chunk_pause=0.05):
        self.data = _to_bytes(lines)
        self.delay = delay
        self.byte_delay = byte_delay
        self.split_at = split_at
        self.chunk_pause = chunk_pause

    @property
    def simple(self):
        return not (self.delay or self.byte_delay is not None or self.split_at)

    def code(self):
        """Code of the final line (int) or None."""
        lines = self.data.split(b"\n")
        lines = [ln for ln in lines if ln]
        if not lines:
            return None
        m = re.match(rb"^(\d{3})", lines[-1])
        return int(m.group(1)) if m else None

    def perform(self, srv, conn, line):
        if self.simple and srv.batch_replies:
            conn._queue(self.data)
            return
        conn._flush()
        if self.delay:
            time.sleep(self.delay)
        if self.byte_delay is not None:
            for i in range(len(self.data)):
                conn._send(self.data[i:i + 1])
                if i != len(self.data) - 1:
                    time.sleep(self.byte_delay)
        elif self.split_at:
            prev = 0
            cuts = sorted(i for i in set(self.split_at) if 0 < i < len(self.data))
            for i in cuts:
                conn._send(self.data[prev:i])
                prev = i
                time.sleep(self.chunk_pause)
            conn._send(self.data[prev:])
        else:
            conn._send(self.data)


class Raw(Reply):
    """Exact bytes (no CRLF added), same timing options as Reply."""

    def __init__(self, data, **kw):
        if isinstance(data, str):
            data = data.encode("utf-8")
        super().__init__(bytes(data), **kw)


class NoReply(Action):
    def perform(self, srv, conn, line):
        pass


class Stall(Action):
    """Never answer again. The connection keeps reading and recording until
    the peer closes or the server stops."""

    def perform(self, srv, conn, line):
        conn._flush()
        conn.mode = "stall"


class Close(Action):
    """Close the connection, optionally after sending `send` bytes.
    rst=True makes it an abortive close (TCP RST via SO_LINGER 0)."""

    def __init__(self, send=None, rst=False):
        self.send = _to_bytes(send) if isinstance(send, (str, list)) else send
        self.rst = rst

    def perform(self, srv, conn, line):
        if self.send:
            conn._queue(self.send)
        conn._flush()
        conn._close(rst=self.rst, reason="script")


class DropAfterData(Action):
    """For DATA: reply 354 (or `reply`), then close the connection once
    `nbytes` bytes of message data have arrived. For BDAT: close after
    `nbytes` bytes of chunk data."""

    def __init__(self, nbytes, reply="354 End data with <CR><LF>.<CR><LF>", rst=False):
        self.nbytes = nbytes
        self.reply = Reply(reply) if isinstance(reply, str) else reply
        self.rst = rst

    def perform(self, srv, conn, line):
        conn.drop_after = (self.nbytes, self.rst)
        verb = line.split(b" ", 1)[0].upper() if line else b""
        if verb == b"DATA":
            self.reply.perform(srv, conn, line)
            conn._flush()
            conn._enter_data()
        # BDAT: the BDAT handler checks conn.drop_after itself.


class Seq(Action):
    def __init__(self, *actions):
        self.actions = actions

    def code(self):
        codes = [a.code() for a in map(_as_action, self.actions) if hasattr(a, "code")]
        codes = [c for c in codes if c is not None]
        return codes[-1] if codes else None

    def perform(self, srv, conn, line):
        for a in self.actions:
            a = _as_action(a)
            if a is None or conn.closed.is_set():
                continue
            a.perform(srv, conn, line)


def long_reply(code=250, length=100000, lines=1):
    """A reply of `lines` lines totalling about `length` text bytes."""
    per = max(1, length // lines)
    out = ["%d-%s" % (code, "x" * per) for _ in range(lines - 1)]
    out.append("%d %s" % (code, "x" * per))
    return Reply(out)


def _as_action(v):
    if v is None or isinstance(v, Action):
        return v
    if isinstance(v, (bytes, bytearray)):
        return Raw(bytes(v))
    if isinstance(v, str):
        return Reply(v)
    raise TypeError("cannot use %r as a FakeBackend action" % (v,))


# ------------------------------------------------------------------ connection
class Conn:
    """What one connection received and did. All fields are safe to read from
    the test thread (lists are only appended to)."""

    def __init__(self, srv, sock, index, peer):
        self.srv = srv
        self.sock = sock
        self.index = index
        self.peer = peer                    # (ip, port) or '' for UNIX
        self.raw = bytearray()              # every byte received
        self.chunks = []                    # (monotonic time, bytes) per recv()
        self.sent = bytearray()             # every byte sent
        self.commands = []                  # command lines (str, no CRLF)
        self.command_bytes = []             # command lines (bytes, as received)
        self.verbs = []                     # upper-case verbs
        self.xclient = []                   # dicts of XCLIENT attributes
        self.xforward = []                  # dicts of XFORWARD attributes
        self.auth = []                      # (mechanism, authzid, authcid) never the password
        self.helo = None
        self.mail_from = None
        self.rcpts = []
        self.transactions = []              # dicts: mail_from, rcpts, raw_data, message, kind
        self.messages = []                  # unstuffed message bytes per completed DATA/BDAT
        self.raw_data = []                  # DATA sections as received (dot-stuffed, incl. final .CRLF)
        self.partial_data = None            # data received when the connection ended mid-DATA
        self.closed = threading.Event()
        self.close_reason = None            # 'peer', 'quit', 'script', 'drop', 'server-stop', 'error'
        self.mode = "cmd"                   # cmd | data | bdat | auth | stall
        self.drop_after = None
        self.occurrences = {}
        self._out = bytearray()
        self._buf = b""
        self._data = b""
        self._bdat_left = 0
        self._bdat_last = False
        self._bdat_buf = b""
        self._bdat_action = None
        self._bdat_start = 0
        self._bdat_size = 0
        self._bdat_line = b""
        self.error = None
        self.script = {}

    # -- io helpers (connection thread only)
    def _queue(self, data):
        self._out += data

    def _flush(self):
        if self._out:
            data, self._out = bytes(self._out), bytearray()
            self._send(data)

    def _send(self, data):
        if self.closed.is_set():
            return
        try:
            self.sock.sendall(data)
            self.sent += data
        except OSError:
            self._close(reason="error")

    def _close(self, rst=False, reason="server"):
        if self.closed.is_set():
            return
        if self.close_reason is None:
            self.close_reason = reason
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass
        self.closed.set()

    def _enter_data(self):
        self.mode = "data"
        self._data = b""

    # -- test-side helpers
    def wait_closed(self, timeout=10):
        if not self.closed.wait(timeout):
            raise AssertionError("backend connection %d not closed within %.1fs" % (self.index, timeout))
        return self.close_reason

    def wait_verb(self, verb, timeout=10, count=1):
        verb = verb.upper()
        return wait_until(lambda: self.verbs.count(verb) >= count, timeout=timeout,
                          what="backend conn %d to receive %s x%d" % (self.index, verb, count))

    def wait_messages(self, count=1, timeout=10):
        wait_until(lambda: len(self.messages) >= count, timeout=timeout,
                   what="backend conn %d to receive %d message(s)" % (self.index, count))
        return self.messages

    def __repr__(self):
        return "<Conn %d verbs=%s closed=%s>" % (self.index, self.verbs, self.closed.is_set())


def _xtext_decode(s):
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def _parse_attrs(rest):
    d = {}
    for tok in rest.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            d[k.upper()] = _xtext_decode(v)
        else:
            d[tok.upper()] = None
    return d


def _unstuff(data):
    """DATA section (without the final '.CRLF') -> message bytes."""
    lines = data.split(b"\r\n")
    return b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)


# ---------------------------------------------------------------------- server
class FakeBackend:
    """A scriptable SMTP server on 127.0.0.1:<port> (or a UNIX socket).

    greeting        the 220 banner (or any action); default '220 <hostname> ESMTP FakeBackend'
    script          dict / list of dicts / callable(index) -> dict, see module doc
    hostname        used in the greeting and the EHLO reply
    ehlo_keywords   list of EHLO keywords (default DEFAULT_EHLO_KEYWORDS)
    queue_id        str or callable(conn, n) -> str for '250 2.0.0 Ok: queued as X'
    batch_replies   flush all replies to the pipelined commands of one read in
                    one write (default True, like Postfix)
    unix_path       listen on this UNIX socket path instead of TCP
    """

    def __init__(self, port=None, host="127.0.0.1", greeting=None, script=None,
                 hostname="fake.backend.test", ehlo_keywords=None, queue_id="ABC123",
                 batch_replies=True, unix_path=None):
        self.host = host
        self.unix_path = unix_path
        self.port = None if unix_path else (port or free_port(host))
        self.hostname = hostname
        self.greeting = greeting
        self.script = script or {}
        self.ehlo_keywords = list(DEFAULT_EHLO_KEYWORDS if ehlo_keywords is None else ehlo_keywords)
        self.queue_id = queue_id
        self.batch_replies = batch_replies
        self.connections = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = None
        self._threads = []
        self._accept_thread = None
        self._cleanup_token = None
        self._nmsg = 0

    @property
    def address(self):
        return "unix:" + self.unix_path if self.unix_path else "%s:%d" % (self.host, self.port)

    # ----------------------------------------------------------- lifecycle
    def start(self):
        if self.unix_path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(self.unix_path)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
        s.listen(128)
        s.settimeout(0.1)
        self._listener = s
        self._accept_thread = threading.Thread(target=self._accept_loop, name="fakebackend-accept",
                                               daemon=True)
        self._accept_thread.start()
        self._cleanup_token = register_cleanup(self.stop)
        return self

    def stop(self, timeout=5):
        self._stopping.set()
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        with self._lock:
            conns = list(self.connections)
        for c in conns:
            if not c.closed.is_set():
                c.close_reason = c.close_reason or "server-stop"
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        deadline = time.monotonic() + timeout
        for t in [self._accept_thread] + list(self._threads):
            if t is not None:
                t.join(max(0.0, deadline - time.monotonic()))
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass
        if self._cleanup_token is not None:
            unregister_cleanup(self._cleanup_token)
            self._cleanup_token = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def clear(self):
        """Forget the connections recorded so far (e.g. the readiness probe)."""
        with self._lock:
            self.connections = []

    # ------------------------------------------------------- test helpers
    def wait_connections(self, n=1, timeout=10):
        """Wait (bounded) until at least n connections were accepted; return them."""
        wait_until(lambda: len(self.connections) >= n, timeout=timeout,
                   what="%d connection(s) to the fake backend" % n)
        return list(self.connections)

    def all_verbs(self):
        out = []
        for c in list(self.connections):
            out.extend(c.verbs)
        return out

    def all_commands(self):
        out = []
        for c in list(self.connections):
            out.extend(c.commands)
        return out

    def all_messages(self):
        out = []
        for c in list(self.connections):
            out.extend(c.messages)
        return out

    def saw(self, needle):
        """True if any connection received these bytes (str or bytes)."""
        if isinstance(needle, str):
            needle = needle.encode("utf-8")
        return any(needle in bytes(c.raw) for c in list(self.connections))

    # ---------------------------------------------------------- internals
    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self._lock:
                index = len(self.connections)
                conn = Conn(self, sock, index, peer)
                conn.script = self._script_for(index)
                self.connections.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                 name="fakebackend-conn-%d" % index)
            self._threads.append(t)
            t.start()

    def _script_for(self, index):
        s = self.script
        if callable(s):
            s = s(index)
        elif isinstance(s, list):
            s = s[min(index, len(s) - 1)] if s else {}
        return {k.upper() if isinstance(k, str) else k: v for k, v in (s or {}).items()}

    def _lookup(self, conn, key, line):
        """Scripted action for key, or None for the default."""
        n = conn.occurrences.get(key, 0)
        conn.occurrences[key] = n + 1
        if key in conn.script:
            v = conn.script[key]
        elif key not in ("CONNECT", ".") and "*" in conn.script:
            v = conn.script["*"]
        else:
            return None
        if isinstance(v, list):
            v = v[min(n, len(v) - 1)] if v else None
        if callable(v) and not isinstance(v, Action):
            v = v(conn, line)
        return _as_action(v)

    def _serve(self, conn):
        sock = conn.sock
        sock.settimeout(0.1)
        try:
            greet = self._lookup(conn, "CONNECT", b"")
            if greet is None:
                greet = _as_action(self.greeting) if self.greeting is not None else \
                    Reply("220 %s ESMTP FakeBackend" % self.hostname)
            greet.perform(self, conn, b"")
            conn._flush()
            while not conn.closed.is_set() and not self._stopping.is_set():
                self._process(conn)
                conn._flush()
                if conn.closed.is_set():
                    break
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    if conn.mode == "data":
                        conn.partial_data = conn._data
                    conn._close(reason="server-stop" if self._stopping.is_set() else "peer")
                    break
                conn.raw += chunk
                conn.chunks.append((time.monotonic(), chunk))
                if conn.mode != "stall":
                    conn._buf += chunk
        except Exception as e:  # noqa: BLE001 - record, never kill the test process
            conn.error = repr(e)
            conn._close(reason="error")
        finally:
            if not conn.closed.is_set():
                conn._close(reason="server-stop")

    def _process(self, conn):
        """Handle everything complete in conn._buf, in order."""
        while not conn.closed.is_set():
            if conn.mode == "stall":
                conn._buf = b""
                return
            if conn.mode == "data":
                if not self._process_data(conn):
                    return
                continue
            if conn.mode == "bdat":
                if not self._process_bdat(conn):
                    return
                continue
            nl = conn._buf.find(b"\n")
            if nl < 0:
                return
            raw_line, conn._buf = conn._buf[:nl + 1], conn._buf[nl + 1:]
            line = raw_line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
            if conn.mode == "auth":
                conn.mode = "cmd"
                self._auth_response(conn, line)
                continue
            self._command(conn, raw_line, line)

    def _process_data(self, conn):
        conn._data += conn._buf
        conn._buf = b""
        data = conn._data
        if conn.drop_after is not None:
            n, rst = conn.drop_after
            if len(data) >= n:
                conn.partial_data = data[:n]
                conn.drop_after = None
                conn._flush()
                conn._close(rst=rst, reason="drop")
                return False
        # The DATA command's own CRLF precedes the data: an empty message is
        # just '.\r\n'. Only CRLF '.' CRLF ends the data.
        if data.startswith(b".\r\n"):
            end, body_end, after = 0, 0, 3
        else:
            i = data.find(b"\r\n.\r\n")
            if i < 0:
                return False
            end, body_end, after = i, i + 2, i + 5
        section = data[:body_end]
        conn._data = b""
        conn._buf = data[after:]
        conn.mode = "cmd"
        message = _unstuff(section[:-2]) + b"\r\n" if section else b""
        conn.raw_data.append(data[:after])
        self._finish_message(conn, message, "DATA")
        return True

    def _finish_message(self, conn, message, kind):
        conn.messages.append(message)
        conn.transactions.append({"mail_from": conn.mail_from, "rcpts": list(conn.rcpts),
                                  "message": message, "kind": kind})
        self._nmsg += 1
        act = self._lookup(conn, ".", b".")
        if act is None:
            qid = self.queue_id(conn, self._nmsg) if callable(self.queue_id) else self.queue_id
            act = Reply("250 2.0.0 Ok: queued as %s" % qid)
        act.perform(self, conn, b".")
        conn.mail_from = None
        conn.rcpts = []

    def _process_bdat(self, conn):
        take = conn._buf[:conn._bdat_left]
        conn._buf = conn._buf[len(take):]
        conn._bdat_buf += take
        conn._bdat_left -= len(take)
        if conn.drop_after is not None:
            n, rst = conn.drop_after
            if len(conn._bdat_buf) - conn._bdat_start >= n:
                conn.partial_data = conn._bdat_buf
                conn.drop_after = None
                conn._close(rst=rst, reason="drop")
                return False
        if conn._bdat_left > 0:
            return False
        conn.mode = "cmd"
        act = conn._bdat_action
        if act is not None:
            act.perform(self, conn, conn._bdat_line)
            if conn._bdat_last:
                conn.messages.append(conn._bdat_buf)
                conn.transactions.append({"mail_from": conn.mail_from, "rcpts": list(conn.rcpts),
                                          "message": conn._bdat_buf, "kind": "BDAT"})
                conn._bdat_buf = b""
                conn.mail_from, conn.rcpts = None, []
        elif not conn.rcpts:
            conn._queue(b"503 5.5.1 Error: need RCPT command\r\n")
            conn._bdat_buf = b""
        elif conn._bdat_last:
            message, conn._bdat_buf = conn._bdat_buf, b""
            self._finish_message(conn, message, "BDAT")
        else:
            conn._queue(("250 2.0.0 Ok: %d octets\r\n" % conn._bdat_size).encode())
        return True

    def _command(self, conn, raw_line, line):
        text = line.decode("utf-8", "surrogateescape")
        conn.commands.append(text)
        conn.command_bytes.append(raw_line)
        verb = text.split(" ", 1)[0].upper()
        rest = text[len(verb):].strip()
        conn.verbs.append(verb)

        if verb == "BDAT":
            m = re.match(r"^(\d+)(\s+LAST)?\s*$", rest, re.I)
            if not m:
                self._reply(conn, self._lookup(conn, verb, line), "501 5.5.4 Syntax: BDAT count [LAST]")
                return
            conn._bdat_size = int(m.group(1))
            conn._bdat_left = conn._bdat_size
            conn._bdat_last = bool(m.group(2))
            conn._bdat_line = line
            conn._bdat_start = len(conn._bdat_buf)
            act = self._lookup(conn, verb, line)
            if isinstance(act, DropAfterData):
                act.perform(self, conn, line)
                act = None
            if isinstance(act, (Stall, Close)):
                act.perform(self, conn, line)
                return
            conn._bdat_action = act
            conn.mode = "bdat"
            return

        act = self._lookup(conn, verb, line)
        if act is not None:
            act.perform(self, conn, line)
            self._apply_state(conn, verb, rest, act)
            return
        self._default(conn, verb, rest, line)

    def _reply(self, conn, act, default):
        (act or Reply(default)).perform(self, conn, b"")

    def _apply_state(self, conn, verb, rest, act):
        """Keep the envelope state in step with a scripted reply's code."""
        code = act.code() if hasattr(act, "code") else None
        if code is None:
            return
        if verb == "MAIL" and code == 250:
            conn.mail_from = _path(rest)
            conn.rcpts = []
        elif verb == "RCPT" and code in (250, 251):
            conn.rcpts.append(_path(rest))
        elif verb == "DATA" and code == 354:
            conn._flush()
            conn._enter_data()
        elif verb in ("RSET", "EHLO", "HELO") and code == 250:
            conn.mail_from, conn.rcpts = None, []
        elif verb == "XCLIENT" and code == 220:
            conn.xclient.append(_parse_attrs(rest))
            conn.mail_from, conn.rcpts, conn.helo = None, [], None
        elif verb == "QUIT" and code == 221:
            conn._flush()
            conn._close(reason="quit")

    def _default(self, conn, verb, rest, line):
        q = conn._queue
        if verb == "EHLO":
            conn.helo = rest
            conn.mail_from, conn.rcpts = None, []
            kws = [self.hostname] + self.ehlo_keywords
            q(_to_bytes(["250-" + k for k in kws[:-1]] + ["250 " + kws[-1]]))
        elif verb == "HELO":
            conn.helo = rest
            conn.mail_from, conn.rcpts = None, []
            q(b"250 " + self.hostname.encode() + b"\r\n")
        elif verb == "XCLIENT":
            conn.xclient.append(_parse_attrs(rest))
            conn.mail_from, conn.rcpts, conn.helo = None, [], None
            q(("220 %s ESMTP FakeBackend\r\n" % self.hostname).encode())
        elif verb == "XFORWARD":
            conn.xforward.append(_parse_attrs(rest))
            q(b"250 2.0.0 Ok\r\n")
        elif verb == "MAIL":
            if not rest.upper().startswith("FROM:"):
                q(b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n")
            elif conn.mail_from is not None:
                q(b"503 5.5.1 Error: nested MAIL command\r\n")
            else:
                conn.mail_from = _path(rest)
                conn.rcpts = []
                q(b"250 2.1.0 Ok\r\n")
        elif verb == "RCPT":
            if conn.mail_from is None:
                q(b"503 5.5.1 Error: need MAIL command\r\n")
            elif not rest.upper().startswith("TO:"):
                q(b"501 5.5.4 Syntax: RCPT TO:<address>\r\n")
            else:
                conn.rcpts.append(_path(rest))
                q(b"250 2.1.5 Ok\r\n")
        elif verb == "DATA":
            if conn.mail_from is None:
                q(b"503 5.5.1 Error: need RCPT command\r\n")
            elif not conn.rcpts:
                q(b"554 5.5.1 Error: no valid recipients\r\n")
            else:
                q(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                conn._flush()
                conn._enter_data()
        elif verb == "RSET":
            conn.mail_from, conn.rcpts = None, []
            q(b"250 2.0.0 Ok\r\n")
        elif verb == "NOOP":
            q(b"250 2.0.0 Ok\r\n")
        elif verb == "VRFY":
            q(b"252 2.0.0 Cannot VRFY user\r\n")
        elif verb == "STARTTLS":
            q(b"454 4.7.0 TLS not available\r\n")
        elif verb == "AUTH":
            parts = rest.split()
            mech = parts[0].upper() if parts else ""
            if mech != "PLAIN":
                q(b"504 5.5.4 Unsupported authentication mechanism\r\n")
            elif len(parts) > 1:
                self._auth_response(conn, parts[1].encode())
            else:
                conn.mode = "auth"
                q(b"334 \r\n")
        elif verb == "QUIT":
            q(b"221 2.0.0 Bye\r\n")
            conn._flush()
            conn._close(reason="quit")
        else:
            q(b"502 5.5.2 Error: command not recognized\r\n")

    def _auth_response(self, conn, resp):
        if resp.strip() == b"*":
            conn._queue(b"501 5.7.0 Authentication aborted\r\n")
            return
        try:
            authz, authc, _pw = base64.b64decode(resp, validate=True).split(b"\0", 2)
        except Exception:  # noqa: BLE001
            conn._queue(b"535 5.7.8 Error: authentication failed\r\n")
            return
        conn.auth.append(("PLAIN", authz.decode("utf-8", "replace"), authc.decode("utf-8", "replace")))
        conn._queue(b"235 2.7.0 Authentication successful\r\n")


def _path(rest):
    m = re.search(r"<([^>]*)>", rest)
    if m:
        return m.group(1)
    return rest.split(":", 1)[1].strip() if ":" in rest else rest
